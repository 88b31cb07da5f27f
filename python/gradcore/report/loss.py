"""2. Training loss per epoch of the run's reference model (train and validation)."""
from ._base import BASELINE, Section, baseline, fmt, np, per_epoch, png

TITLE = "Training loss per epoch"


def build(ctx):
    b = baseline(ctx)
    h = b["hist"]
    t, fig, ax = per_epoch(h.loss, h.val_loss, ["train loss", "val loss", "val - train"],
                           ["train loss (mean over the epoch's steps)", "val loss (after the epoch)"],
                           "cross-entropy", f"loss per epoch: {BASELINE}")
    ax.set_yscale("log")
    ax.legend()
    best = int(np.nanargmin(h.val_loss)) + 1
    drop = h.loss[0] / h.loss[-1]
    trend = ("still falling" if h.val_loss[-1] <= min(h.val_loss) * 1.0001
             else f"lowest at epoch {best} ({fmt(min(h.val_loss))}), "
                  f"{fmt(h.val_loss[-1])} at the end")
    reading = (f"The train loss fell {drop:.1f}x in {h.epochs} epochs "
               f"({fmt(h.loss[0])} -> {fmt(h.loss[-1])}); the val loss is {trend}.")
    return Section(TITLE, "Cross-entropy per epoch: the train loss averaged over the epoch's "
                   "mini-batches and the val loss measured after it.", [t],
                   [(png(fig), "training loss per epoch")], reading)
