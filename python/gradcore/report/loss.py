"""2. Training loss per epoch of the run's reference model (train and validation)."""
from ._base import BASELINE, Section, Table, baseline, figure, fmt, np, png

TITLE = "Training loss per epoch"


def build(ctx):
    b = baseline(ctx)
    h = b["hist"]
    ep = np.arange(1, h.epochs + 1)
    rows = [[str(e), fmt(h.loss[e - 1]), fmt(h.val_loss[e - 1]),
             fmt(h.val_loss[e - 1] - h.loss[e - 1])] for e in ep]
    t = Table(["epoch", "train loss", "val loss", "val - train"], rows, BASELINE)
    fig = figure(8, 3.6)
    ax = fig.subplots()
    ax.plot(ep, h.loss, marker=".", label="train loss (mean over the epoch's steps)")
    ax.plot(ep, h.val_loss, marker=".", label="val loss (after the epoch)")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"loss per epoch: {BASELINE}")
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
