"""9. Accuracy per epoch of the run's reference model (train and validation)."""
from ._base import BASELINE, Section, baseline, fmt, np, per_epoch, png

TITLE = "Accuracy per epoch"


def build(ctx):
    h = baseline(ctx)["hist"]
    ep = np.arange(1, h.epochs + 1)
    t, fig, ax = per_epoch(h.accuracy, h.val_accuracy,
                           ["train accuracy", "val accuracy", "train - val"],
                           ["train accuracy (during the epoch)", "val accuracy (after the epoch)"],
                           "accuracy", f"accuracy per epoch: {BASELINE}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    best = int(np.argmax(h.val_accuracy)) + 1
    first95 = next((e for e in ep if h.val_accuracy[e - 1] >= 0.95), None)
    reading = (f"Val accuracy peaked at {fmt(max(h.val_accuracy))} in epoch {best} and ended at "
               f"{fmt(h.val_accuracy[-1])}; "
               + (f"it first reached 0.95 in epoch {first95}; " if first95 else
                  "it never reached 0.95; ")
               + f"the final train-val gap is {fmt(h.accuracy[-1] - h.val_accuracy[-1], 3)}.")
    return Section(TITLE, "Fraction of digits classified correctly per epoch, on the training "
                   "batches and on the held-out set.", [t],
                   [(png(fig), "accuracy per epoch")], reading)
