"""9. Accuracy per epoch of the run's reference model (train and validation)."""
from ._base import BASELINE, Section, Table, baseline, figure, fmt, np, png

TITLE = "Accuracy per epoch"


def build(ctx):
    h = baseline(ctx)["hist"]
    ep = np.arange(1, h.epochs + 1)
    rows = [[str(e), fmt(h.accuracy[e - 1]), fmt(h.val_accuracy[e - 1]),
             fmt(h.accuracy[e - 1] - h.val_accuracy[e - 1])] for e in ep]
    t = Table(["epoch", "train accuracy", "val accuracy", "train - val"], rows, BASELINE)
    fig = figure(8, 3.6)
    ax = fig.subplots()
    ax.plot(ep, h.accuracy, marker=".", label="train accuracy (during the epoch)")
    ax.plot(ep, h.val_accuracy, marker=".", label="val accuracy (after the epoch)")
    ax.set(xlabel="epoch", ylabel="accuracy", title=f"accuracy per epoch: {BASELINE}")
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
