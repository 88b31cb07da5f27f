"""``GradientMonitor``: per-parameter and per-layer gradient statistics after every backward.

    mon = gc.diagnostics.GradientMonitor(model)
    for x, y in loader:
        opt.zero_grad(); loss_fn(model(x), y).backward()
        mon.record()                    # ONE grad_stats kernel call over every gradient
        opt.step()
    mon.flush()                         # the last step's update ratio
    print(mon.summary()); mon.issues()

Each ``record()`` is one multi-tensor C++ call (``grad_stats``) returning, per parameter, the
sum of squared gradients, max |g|, the non-finite count, and |p - p_prev|^2 and |p|^2, where
p_prev is the snapshot the previous call left: the update of the optimizer step in between,
so the update-to-weight ratio |dw|/|w| of step t is known at step t+1 (or at ``flush()``).
Per-layer aggregation (a layer is a module: the parameters sharing a name prefix) and the
alert logic are a few vectorised numpy operations on that (n, 5) array; nothing runs per
parameter in Python.

Why the caller records (``fit`` does) rather than post-accumulate-grad hooks: the single call
needs every gradient complete, and hooks fire per parameter (never for unused ones), so they
would need arrival counting that breaks with unused parameters and accumulated micro-batches;
an explicit call also sees the gradients after a DDP allreduce and before clipping.
"""
import math
from typing import NamedTuple

import numpy as np

from .. import dispatch as D
from ..dispatch import K
from ..dtypes import CODE, float64

__all__ = ["GradientMonitor", "Issue", "REMEDIES", "GradientWarning"]


class GradientWarning(UserWarning):
    """A layer's gradients vanished, exploded or turned non-finite during ``fit``."""


REMEDIES = {
    "vanishing": "check the initialisation (kaiming for ReLU, xavier for tanh/sigmoid), prefer "
                 "ReLU-family activations in deep nets, add normalisation (LayerNorm/BatchNorm) "
                 "or residual connections, or raise the learning rate",
    "exploding": "lower the learning rate, clip gradients (fit(..., clip_grad_norm=1.0)), check "
                 "the initialisation scale, or add normalisation",
    "nonfinite": "lower the learning rate, clip gradients, and guard log/sqrt/division against "
                 "non-positive inputs (gc.autograd.detect_anomaly() names the op)",
}
_KINDS = ("nonfinite", "exploding", "vanishing")


class Issue(NamedTuple):
    """An alert: ``kind`` ('vanishing' | 'exploding' | 'nonfinite'), the layer ``name``, the
    ``step`` its streak began and the layer's gradient norm ``value`` (non-finite count for
    'nonfinite') at that step."""
    kind: str
    name: str
    step: int
    value: float


def layer_of(param_name):
    """The module that owns a parameter: its dotted prefix ('0.weight' -> '0'); a parameter of
    the root module is its own layer."""
    layer = param_name.rpartition(".")[0]
    return layer or param_name


class GradientMonitor:
    """Records gradient statistics of ``model``'s parameters at every ``record()`` call.

    A layer is flagged 'vanishing' when its gradient L2 norm is below ``vanish_below``,
    'exploding' above ``explode_above``, for ``patience`` consecutive steps (hysteresis: one
    noisy step is not an alert; the alert re-arms after ``patience`` steps back in range);
    'nonfinite' at the first step a NaN/Inf appears.

    The update-to-weight ratio |dw|/|w| is measured for every ``ratio_every``-th optimizer
    step (the parameters are read on that step and the one before; NaN in the per-step
    series otherwise): reading the parameters twice per step would cost about as much again
    as the gradient statistics. ``ratio_every=1`` measures every step; ``update_ratio=False``
    never (and keeps no copy of the parameters)."""

    def __init__(self, model, vanish_below=1e-7, explode_above=1e3, patience=3,
                 update_ratio=True, ratio_every=10):
        if not (vanish_below >= 0 and explode_above > vanish_below):
            raise ValueError(f"GradientMonitor: need 0 <= vanish_below < explode_above, got "
                             f"{vanish_below!r}, {explode_above!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"GradientMonitor: patience must be an int >= 1, got {patience!r}")
        self.vanish_below, self.explode_above = float(vanish_below), float(explode_above)
        self.patience = patience
        if isinstance(ratio_every, bool) or not isinstance(ratio_every, int) or ratio_every < 1:
            raise ValueError(f"GradientMonitor: ratio_every must be an int >= 1, got "
                             f"{ratio_every!r}")
        self.ratio_every = ratio_every
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self.layers = list(dict.fromkeys(layer_of(n) for n in self.param_names))
        idx = {name: i for i, name in enumerate(self.layers)}
        self._member = np.zeros((len(self.layers), len(named)), bool)   # layer x parameter
        for j, n in enumerate(self.param_names):
            self._member[idx[layer_of(n)], j] = True
        n = len(named)
        self._out = D.empty((n, 5), CODE[float64])
        self._zero = {}
        self._prev = [D.empty(p.shape, CODE[p.dtype]) for p in self._params] \
            if update_ratio else None
        self._snap_step = -2
        self.steps = 0
        self._pnorm, self._lnorm, self._lmax, self._lnf, self._ratio = [], [], [], [], []
        L = len(self.layers)
        self._cond = np.zeros((3, L), bool)
        self._streak = np.zeros((3, L), np.int64)
        self._calm = np.zeros((3, L), np.int64)
        self._active = np.zeros((3, L), bool)
        self._need = np.array([[1], [patience], [patience]])
        self._zeros_l, self._nan_l = np.zeros(L), np.full(L, np.nan)
        # reduceat needs each layer's parameters to be contiguous (named_parameters order)
        order = [self.layers.index(layer_of(n)) for n in self.param_names]
        self._starts = (np.flatnonzero(np.diff([-1] + order)) if order == sorted(order)
                        else None)
        self._issues = []
        self._reported = 0
        self._norms_cache = (-1, None)

    # ---- recording -------------------------------------------------------------------------
    def record(self):
        """Read every parameter's ``.grad`` (one kernel call) and update the statistics and
        alerts. Returns the issues raised by this step (usually [])."""
        if not self._params:
            return []
        s, k = self.steps, self.ratio_every
        # Parameters are read (update norm, snapshot) on the step before a ratio step (the
        # snapshot) and on the ratio step itself (the update of the step in between).
        snap = self._prev is not None and (k == 1 or s % k in (0, k - 1))
        arrays, missing = [], None
        for j, p in enumerate(self._params):
            g = p.grad
            if g is None:
                missing = (missing or []) + [j]
                g = self._zero.get(j)
                if g is None:
                    g = self._zero[j] = np.zeros(p.shape, p._data.dtype)
            else:
                g = g._data
            if snap:
                arrays += (g, p._data, self._prev[j])
            else:
                arrays.append(g)
        out = self._out
        D.run(K.grad_stats, out, *arrays, mode=1 if snap else 0)
        if missing is None and not out[:, 2].any() and self._starts is not None:
            lsq = np.add.reduceat(out[:, 0], self._starts)     # the common case: all finite
            lmax = np.maximum.reduceat(out[:, 1], self._starts)
            lnf = self._zeros_l
            self._pnorm.append(np.sqrt(out[:, 0]))
            lnorm = np.sqrt(lsq)
        else:
            lnorm, lmax, lnf = self._slow(out, missing)
        ratio = self._nan_l
        if snap and self._snap_step == s - 1:
            ratio = self._ratios(out)
            if s:
                self._ratio[-1] = ratio
        if snap:
            self._snap_step = s
        self._lnorm.append(lnorm)
        self._lmax.append(lmax)
        self._lnf.append(lnf)
        self._ratio.append(self._nan_l)
        new = self._alerts(lnorm, lnf)
        self.steps += 1
        return new

    __call__ = record

    def _slow(self, out, missing):
        """Per-layer statistics when a gradient is missing or non-finite (NaN stays in its
        own layer; a layer without any gradient gets NaN)."""
        sq, mx, nf = out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()
        miss = np.zeros(len(sq), bool)
        if missing:
            miss[missing] = True
            sq[miss] = mx[miss] = np.nan
        self._pnorm.append(np.sqrt(sq))
        lnorm = np.sqrt(self._lsum(np.where(miss, 0.0, sq)))
        lnorm[(self._member & ~miss).sum(1) == 0] = np.nan
        lmax = np.where(self._member & ~miss, mx[None, :], -np.inf).max(1)
        return lnorm, lmax, self._lsum(nf)

    def flush(self):
        """Measure the update of the optimizer step made after the last ``record()`` when
        that record took a snapshot (its ratio is otherwise known only at the next one)."""
        if self._prev is None or not self._params or self._snap_step != self.steps - 1:
            return
        arrays = []
        for j, p in enumerate(self._params):
            arrays += (p._data, self._prev[j])
        D.run(K.grad_stats, self._out, *arrays, mode=2)
        self._ratio[-1] = self._ratios(self._out)
        self._snap_step = -2

    def _ratios(self, out):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(self._lsum(out[:, 3])) / np.sqrt(self._lsum(out[:, 4]))

    def _lsum(self, v):
        """Per-layer sums of a per-parameter vector (a NaN stays in its own layer)."""
        return np.where(self._member, v[None, :], 0.0).sum(1)

    def _alerts(self, lnorm, lnf):
        # rows: nonfinite, exploding, vanishing. A step that overflows to NaN/Inf right after
        # finite norms above the threshold continues the exploding streak.
        c = self._cond
        np.greater(lnf, 0, out=c[0])
        np.greater(lnorm, self.explode_above, out=c[1])
        if c[0].any():
            c[1] = c[1] & ~c[0] | c[0] & (self._streak[1] > 0)
        np.less(lnorm, self.vanish_below, out=c[2])
        self._streak = np.where(c, self._streak + 1, 0)
        self._calm = np.where(c, 0, self._calm + 1)
        self._active &= self._calm < self.patience
        onset = (self._streak >= self._need) & ~self._active
        if not onset.any():
            return []
        self._active |= onset
        new = []
        for r, i in zip(*np.nonzero(onset)):
            start = self.steps - int(self._streak[r, i]) + 1
            v = self._lnf[start][i] if r == 0 else self._lnorm[start][i]
            new.append(Issue(_KINDS[r], self.layers[i], start, float(v)))
        self._issues += new
        return new

    # ---- results ---------------------------------------------------------------------------
    def last_nonfinite(self):
        """Whether the latest recorded step saw a NaN/Inf gradient."""
        return bool(self._lnf and self._lnf[-1].any())

    def issues(self):
        """Every alert so far, in order (see ``Issue``)."""
        return list(self._issues)

    def new_issues(self):
        """The alerts raised since the previous call of ``new_issues``."""
        out = self._issues[self._reported:]
        self._reported = len(self._issues)
        return out

    @property
    def norms(self):
        """dict: parameter name -> list of its gradient L2 norm per recorded step (NaN where
        the parameter had no gradient)."""
        if self._norms_cache[0] != self.steps:
            a = np.array(self._pnorm).reshape(self.steps, len(self.param_names))
            self._norms_cache = (self.steps, {n: a[:, j].tolist()
                                              for j, n in enumerate(self.param_names)})
        return self._norms_cache[1]

    def layer_norms(self):
        """dict: layer (module name) -> its latest gradient L2 norm."""
        if not self._lnorm:
            return {n: float("nan") for n in self.layers}
        return dict(zip(self.layers, self._lnorm[-1].tolist()))

    def layer_series(self, what="norm", start=0, stop=None):
        """(steps, layers) array of the per-step layer ``what``: 'norm' (gradient L2), 'max'
        (max |g|), 'nonfinite' (count) or 'ratio' (update-to-weight |dw|/|w|)."""
        rows = {"norm": self._lnorm, "max": self._lmax, "nonfinite": self._lnf,
                "ratio": self._ratio}[what][start:stop]
        return np.array(rows).reshape(len(rows), len(self.layers))

    def summary(self):
        """A text table, one row per layer: latest and mean gradient norm, min and max over the
        steps, max |g|, non-finite values seen, mean update ratio, and the alerts raised."""
        if not self.steps:
            return "(no gradient statistics recorded)"
        norm = self.layer_series("norm")
        ratio = self.layer_series("ratio")
        mx = self.layer_series("max")
        nf = self.layer_series("nonfinite").sum(0)
        flags = {}
        for iss in self._issues:
            flags.setdefault(iss.name, []).append(f"{iss.kind}@{iss.step}")
        rows = []
        for i, name in enumerate(self.layers):
            col = norm[:, i]
            fin = col[np.isfinite(col)]
            r = ratio[:, i]
            r = r[np.isfinite(r)]
            rows.append([name, _g(col[-1]), _g(fin.mean() if fin.size else math.nan),
                         _g(fin.min() if fin.size else math.nan),
                         _g(fin.max() if fin.size else math.nan), _g(np.nanmax(mx[:, i])
                                                                     if np.isfinite(mx[:, i]).any()
                                                                     else mx[-1, i]),
                         str(int(nf[i])), _g(r.mean() if r.size else math.nan),
                         " ".join(flags.get(name, [])) or "ok"])
        head = ["layer", "grad norm", "mean", "min", "max", "max |g|", "non-finite",
                "update/weight", "alerts"]
        return _format(head, rows, f"{self.steps} steps; thresholds: vanishing < "
                                   f"{self.vanish_below:g}, exploding > {self.explode_above:g}")


def _g(v):
    return f"{v:.3e}" if isinstance(v, (float, np.floating)) else str(v)


def _format(head, rows, note):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def line(cells):
        return "  ".join(c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(head)] + [line(r) for r in rows] + [note])
