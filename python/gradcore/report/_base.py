"""What every section shares: the data, the models, a training helper, tables and figures.

A section module defines ``TITLE`` and ``build(ctx) -> Section``; every number in its tables
and its reading is computed by the run. Cells are formatted once, as strings, so stdout and the
HTML page show exactly the same text.
"""
import io
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

import gradcore as gc
from gradcore import nn, optim
from gradcore.data import DataLoader, TensorDataset, load_digits
from gradcore.nn import functional as F


@dataclass
class Table:
    headers: list
    rows: list          # lists of str cells
    caption: str = ""


@dataclass
class Section:
    title: str
    what: str           # one sentence: what the section shows
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)   # (png bytes, alt text)
    reading: str = ""   # one line computed from the numbers
    note: str = ""      # e.g. why a section failed
    seconds: float = 0.0


def fmt(v, digits=4):
    """One cell: None -> '-', ints as ints, floats with ``digits`` significant digits."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def figure(w, h):
    """A matplotlib Figure on the Agg canvas (the pyplot backend is left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plain_ticks(ax, axis="y"):
    """Log axes labelled 20, 50, 100 instead of 2x10^1 (major and minor ticks)."""
    from matplotlib.ticker import FuncFormatter
    f = FuncFormatter(lambda v, _: f"{v:g}")
    for a in ((ax.xaxis, ax.yaxis) if axis == "both" else
              (ax.xaxis,) if axis == "x" else (ax.yaxis,)):
        a.set_major_formatter(f)
        a.set_minor_formatter(f)


def png(fig, dpi=90):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def ce(logits, target):
    return F.cross_entropy(logits, target)


class Context:
    """The run's settings, the digits (standardized with training statistics; the 359-sample
    held-out split is the validation set), and results shared between sections."""

    def __init__(self, quick=False, seed=0):
        self.quick, self.seed = quick, seed
        X, y, Xv, yv = load_digits()
        self.raw_train, self.raw_val = X, Xv          # pixels in [0, 1]
        mu, sd = X.mean(0), X.std(0) + 0.01           # some border pixels are always 0
        self.X, self.Xv = (X - mu) / sd, (Xv - mu) / sd
        self.blank = (0.0 - mu) / sd                   # an all-black digit, standardized
        self.y, self.yv = y, yv
        self.shared = {}

    def epochs(self, full, quick):
        return quick if self.quick else full

    def images(self, X):
        return X.reshape(-1, 1, 8, 8)

    def loader(self, X, y, batch_size=64, shuffle=True):
        return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle,
                          seed=self.seed if shuffle else None)

    def val_loader(self, X=None, y=None):
        return self.loader(self.Xv if X is None else X, self.yv if y is None else y, 512,
                           shuffle=False)

    def seed_all(self, offset=0):
        gc.manual_seed(self.seed * 1000 + offset)


def mlp(sizes, act=nn.ReLU, dropout=0.0, batchnorm=False):
    """Linear layers of ``sizes`` with ``act`` (a module class or factory) in between."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


class RowLSTM(nn.Module):
    """Reads each 8x8 image as 8 time steps of 8 pixels; the last hidden state is classified."""

    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(x.shape[0], 8, 8))
        return self.head(out[:, -1])


def conv_autoencoder():
    """8x8 -> 16x4x4 -> 32x2x2 -> back to 8x8 logits (a generative model's reconstruction)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1))


def bce_logits(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target)


def fit(model, opt, loader, epochs, val_loader=None, loss_fn=ce, metrics=("accuracy",),
        **kw):
    """``gc.train.fit`` without a bar, non-finite losses recorded rather than raised (a
    too-high learning rate is an outcome here, not an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gc.train.fit(model, loss_fn, opt, loader, epochs, val_loader=val_loader,
                            metrics=metrics, progress=False, on_nonfinite="ignore", **kw)


def step_grad_norms(hist):
    """Total gradient L2 norm per step from fit's monitor (sqrt of the sum of layer norms^2)."""
    series = hist.layer_grad_norms_step
    if not series:
        return np.array([])
    a = np.array([np.asarray(v, float) for v in series.values()])
    return np.sqrt((a ** 2).sum(0))


def snapshot(model):
    """A detached copy of the parameters and buffers (load_state_dict restores it)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def full_loss(model, X, y, loss_fn=ce):
    with gc.no_grad():
        was = model.training
        model.eval()
        v = float(loss_fn(model(gc.tensor(X)), gc.tensor(y)).item())
        model.train(was)
    return v


def accuracy(model, X, y):
    with gc.no_grad():
        was = model.training
        model.eval()
        pred = model(gc.tensor(X)).argmax(-1).numpy()
        model.train(was)
    return float((pred == y).mean())


class _Checkpoints(gc.train.Callback):
    def __init__(self, store):
        self.store = store

    def on_epoch_end(self, epoch, logs=None):
        self.store[epoch + 1] = snapshot(self.model)


BASELINE = "MLP 64-128-64-10 (ReLU), Adam lr 2e-3, batch 64"


def per_epoch(train, val, columns, labels, ylabel, title):
    """Table (epoch, train, val, the third column: train - val or val - train, as named) and a
    figure with both curves, of the baseline run's per-epoch series."""
    ep = np.arange(1, len(train) + 1)
    sign = 1 if columns[2].startswith("train") else -1
    rows = [[str(e), fmt(train[e - 1]), fmt(val[e - 1]), fmt(sign * (train[e - 1] - val[e - 1]))]
            for e in ep]
    t = Table(["epoch"] + list(columns), rows, BASELINE)
    fig = figure(8, 3.6)
    ax = fig.subplots()
    ax.plot(ep, train, marker=".", label=labels[0])
    ax.plot(ep, val, marker=".", label=labels[1])
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    return t, fig, ax


def baseline(ctx):
    """The run's reference training (shared by the loss, accuracy, layer-norm, landscape and
    curvature sections): the model, its History, and its state at every epoch (0 = init)."""
    if "baseline" not in ctx.shared:
        ctx.seed_all(100)
        model = mlp([64, 128, 64, 10])
        states = {0: snapshot(model)}
        hist = fit(model, optim.Adam(model.parameters(), lr=2e-3), ctx.loader(ctx.X, ctx.y),
                   ctx.epochs(25, 6), ctx.val_loader(), callbacks=[_Checkpoints(states)])
        ctx.shared["baseline"] = dict(model=model, hist=hist, states=states)
    return ctx.shared["baseline"]


def argbest(d, key=min):
    """The key of ``d`` whose finite value is smallest (``key=max``: largest); None if none."""
    ok = {k: v for k, v in d.items() if v is not None and math.isfinite(v)}
    return key(ok, key=ok.get) if ok else None


def tied(d, key=max, tol=1e-12):
    """All keys of ``d`` sharing the best finite value, joined for a sentence ('a and b')."""
    best = argbest(d, key)
    if best is None:
        return None
    names = [k for k, v in d.items() if v is not None and abs(v - d[best]) <= tol]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


__all__ = ["tied", "Table", "Section", "Context", "fmt", "pct",
           "figure", "plain_ticks", "png", "ce", "mlp", "small_cnn", "RowLSTM",
           "conv_autoencoder", "bce_logits", "fit", "step_grad_norms", "snapshot", "baseline",
           "BASELINE", "full_loss", "accuracy", "argbest", "nn", "optim", "gc", "np"]
