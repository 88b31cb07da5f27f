"""Op-table rows for the neural-network primitives: linear, the losses, embedding, dropout and
the L1 penalty (numpy references; tests/test_ops.py runs them like the tensor ops: forward in
float32/float64, contiguous and Fortran-ordered, float64 gradcheck, float32-vs-float64 grads)."""
import numpy as np

import gradcore as gc
import gradcore.nn.functional as F
from op_table import U, Row, c


def INT(n, ignore=None):
    """Class indices in [0, n); with ``ignore``, about a quarter of them set to that value."""
    def f(rng, shape):
        t = rng.integers(0, n, shape).astype(np.int64)
        if ignore is not None:
            t[rng.random(shape) < 0.25] = ignore
        return t
    return f


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def np_lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def np_cross_entropy(x, t, reduction="mean", label_smoothing=0.0, ignore_index=-100):
    """Class dim 1 (or 0 for a single sample); 'mean' over the non-ignored targets."""
    cdim = 0 if x.ndim == 1 else 1
    C = x.shape[cdim]
    lse = np_lse(x, cdim)
    valid = t != ignore_index
    tc = np.where(valid, t, 0)
    xt = np.take_along_axis(x, np.expand_dims(tc, cdim), cdim).squeeze(cdim)
    nll = lse - xt
    smooth = (C * lse - x.sum(axis=cdim)) / C
    loss = np.where(valid, (1 - label_smoothing) * nll + label_smoothing * smooth, 0.0)
    if reduction == "mean":
        return loss.sum() / valid.sum()
    return loss.sum() if reduction == "sum" else loss


def np_nll(x, t, reduction="mean"):
    cdim = 0 if x.ndim == 1 else 1
    loss = -np.take_along_axis(x, np.expand_dims(t, cdim), cdim).squeeze(cdim)
    return _reduce(loss, reduction)


def np_smooth_l1(x, y, reduction="mean", beta=1.0):
    d = np.abs(x - y)
    return _reduce(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def np_huber(x, y, reduction="mean", delta=1.0):
    d = np.abs(x - y)
    return _reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def np_bce_logits(x, y, reduction="mean"):
    return _reduce(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))), reduction)


def _dropout(x, p):
    gc.manual_seed(1234)  # the same mask on every evaluation (gradcheck calls fn repeatedly)
    return F.dropout(x, p)


def np_dropout(x, p):
    gc.manual_seed(1234)
    mask = F.dropout(gc.ones(x.shape, dtype=gc.float64), p).numpy()
    return x * mask


LOSS_CASES = [c((3, 4), (3, 4)), c((3, 4), (3, 4), reduction="sum"),
              c((2, 3), (2, 3), reduction="none"), c((3, 4), (4,)), c((1,), (1,)), c((0, 2), (0, 2), reduction="sum")]
CE_CASES = [c((4, 5), (4,)), c((4, 5), (4,), reduction="sum"), c((3, 4), (3,), reduction="none"),
            c((4, 5), (4,), label_smoothing=0.2), c((2, 3, 2), (2, 2)), c((5,), ()),
            c((1, 3), (1,))]
NN_ROWS = [
    Row("linear", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b,
        [c((4, 3), (5, 3), (5,)), c((2, 3, 3), (4, 3), (4,)), c((1, 1), (1, 1), (1,)),
         c((0, 3), (2, 3), (2,)), c((3,), (2, 3), (2,))]),
    Row("linear_nobias", lambda x, w: F.linear(x, w), lambda x, w: x @ w.T,
        [c((4, 3), (5, 3)), c((2, 2, 3), (4, 3)), c((1, 1), (1, 1))]),
    Row("mse_loss", lambda x, y, **kw: F.mse_loss(x, y, **kw),
        lambda x, y, reduction="mean": _reduce((x - y) ** 2, reduction), LOSS_CASES),
    Row("l1_loss", lambda x, y, **kw: F.l1_loss(x, y, **kw),
        lambda x, y, reduction="mean": _reduce(np.abs(x - y), reduction), LOSS_CASES),
    Row("smooth_l1_loss", lambda x, y, **kw: F.smooth_l1_loss(x, y, **kw), np_smooth_l1,
        LOSS_CASES + [c((3, 4), (3, 4), beta=0.5)]),
    Row("huber_loss", lambda x, y, **kw: F.huber_loss(x, y, **kw), np_huber,
        LOSS_CASES + [c((3, 4), (3, 4), delta=0.5)]),
    Row("cross_entropy", lambda x, t, **kw: F.cross_entropy(x, t, **kw), np_cross_entropy,
        CE_CASES, (U(-3, 3), INT(3))),
    Row("cross_entropy_ignore", lambda x, t, **kw: F.cross_entropy(x, t, **kw), np_cross_entropy,
        [c((6, 4), (6,)), c((6, 4), (6,), reduction="sum"), c((1, 3), (1,))],
        (U(-3, 3), INT(3, ignore=-100))),
    Row("nll_loss", lambda x, t, **kw: F.nll_loss(x, t, **kw), np_nll,
        [c((4, 5), (4,)), c((4, 5), (4,), reduction="sum"), c((3, 2), (3,), reduction="none"),
         c((5,), ()), c((1, 2), (1,))], (U(-3, 0), INT(2))),
    Row("binary_cross_entropy", lambda p, y, **kw: F.binary_cross_entropy(p, y, **kw),
        lambda p, y, reduction="mean": _reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction),
        [c((3, 4), (3, 4)), c((5,), (5,), reduction="sum"), c((2, 3), (2, 3), reduction="none"),
         c((1,), (1,))], (U(0.05, 0.95), U(0, 1))),
    Row("binary_cross_entropy_with_logits",
        lambda x, y, **kw: F.binary_cross_entropy_with_logits(x, y, **kw), np_bce_logits,
        [c((3, 4), (3, 4)), c((5,), (5,), reduction="sum"), c((2, 3), (2, 3), reduction="none"),
         c((1,), (1,))], (U(-4, 4), U(0, 1))),
    Row("embedding", lambda idx, w: F.embedding(idx, w), lambda idx, w: w[idx],
        [c((4,), (6, 3)), c((2, 3), (5, 2)), c((1,), (1, 1)), c((0,), (3, 2))], (INT(3), U())),
    Row("dropout", _dropout, np_dropout,
        [c((4, 6), p=0.3), c((3, 2, 5), p=0.5), c((1,), p=0.2), c((0, 3), p=0.5)]),
    Row("l1_penalty", lambda a, b: F.l1_penalty([a, b]), lambda a, b: np.abs(a).sum() + np.abs(b).sum(),
        [c((3, 4), (5,)), c((2, 3), (1,)), c((1, 1), ())]),
]
NN_API_OPS = {
    "linear": "linear linear_nobias", "mse_loss": "mse_loss", "l1_loss": "l1_loss",
    "smooth_l1_loss": "smooth_l1_loss", "cross_entropy": "cross_entropy cross_entropy_ignore",
    "nll_loss": "nll_loss", "binary_cross_entropy": "binary_cross_entropy",
    "binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "embedding": "embedding", "dropout": "dropout",
}
