"""Losses with torch's signatures and reductions ('mean' | 'sum' | 'none').

Fused kernels (csrc/kernels/loss.cpp): cross_entropy (log-softmax + NLL in one pass forward,
(softmax - smoothed one-hot) * weights / N in one pass backward), nll_loss, binary cross-entropy
on probabilities and on logits, smooth L1. mse_loss, l1_loss, huber_loss and l1_penalty are
composites of differentiable ops. Class weights and targets never get gradients.
"""
from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor
from .elementwise import _check_float, _float_pair, abs, affine, mul, pow, sub
from .reduce import mean, sum

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}
_NO_WEIGHT = {}


def _reduction(op, reduction):
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction "
                         "('none', 'mean' or 'sum')") from None


def _reduce(loss, code):
    return loss if code == 0 else mean(loss) if code == 1 else sum(loss)


def _float_input(op, x):
    x = x if type(x) is Tensor else as_tensor(x)
    _check_float(op, x)
    return x


def _weight_data(op, weight, x, n_classes):
    """Class weights as an array of x's dtype; an empty (0,) array stands for None."""
    d = x._data.dtype
    if weight is None:
        if d not in _NO_WEIGHT:
            _NO_WEIGHT[d] = _empty((0,), d)
        return _NO_WEIGHT[d]
    w = as_tensor(weight)._data
    if w.shape != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},) for {n_classes} classes, "
                         f"got {w.shape}")
    return w if w.dtype == d else D.run(K.cast, w, _empty(w.shape, d))


def _targets(op, target):
    """The class indices as a private int64 copy: the backward reads them later, and the
    caller may reuse or change its target tensor in between (``t[:] = ...``)."""
    t = as_tensor(target)
    if t._data.dtype != _dt.int64:
        raise TypeError(f"{op}: target must hold int64 class indices, got {t._data.dtype}")
    return D.run(K.expand, t._data, t._data.shape)


def _run_checked(*args, **named):
    try:
        return D.run(*args, **named)
    except RuntimeError as e:  # the kernel's std::out_of_range: a target outside [0, C)
        if "out of bounds" in str(e):
            raise IndexError(str(e)) from None
        raise


# ---- cross_entropy -------------------------------------------------------------------------
_ce, _ce_soft = primitive("cross_entropy"), primitive("cross_entropy_soft")


@public(function=False, functional=True)
def cross_entropy(input, target, weight=None, ignore_index=-100,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy, fused (one kernel forward, one backward).
    Shapes: input (N, C) or (N, C, d1, ...) or (C,); target int64 (N,) / (N, d1, ...) / ()
            class indices, or float class probabilities of the input's shape; weight (C,).
    loss_i = (1-eps) w_t (lse - x_t) + eps/C sum_c w_c (lse - x_c); 'mean' divides by sum of
            w_t over non-ignored targets (by N*d1*... for probability targets).
    Grad:   dx = g' [((1-eps) w_t + eps W/C) softmax(x) - (1-eps) w_t onehot(t) - eps w / C]."""
    op = "cross_entropy"
    x = _float_input(op, input)
    red = _reduction(op, reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    xd = x._data
    n_classes = xd.shape[1] if xd.ndim > 1 else xd.shape[0] if xd.ndim else 0
    wd = _weight_data(op, weight, x, n_classes)
    t = as_tensor(target)
    if t._data.dtype in _dt.FLOATS:  # class probabilities (differentiable, as torch)
        from .elementwise import cast
        yt = t if t._data.dtype == xd.dtype else cast(t, xd.dtype)
        if yt._data.shape != xd.shape:
            raise ValueError(f"{op}: probability target {yt._data.shape} must have the input's "
                             f"shape {xd.shape}")
        yd = D.run(K.expand, yt._data, xd.shape)  # private copy: the caller may change its target
        shape = _lse_shape(xd)
        elem, lse, loss, wsum = D.run(K.cross_entropy_soft, xd, yd, wd, elem=shape, lse=shape,
                                      loss=(), wsum=(), label_smoothing=eps, reduction=red)
        out = elem if red == 0 else loss
        return make(out, _ce_soft, (x, yt), (xd, yd, wd, lse, wsum, eps, red))
    td = _targets(op, t)
    elem, stats, loss, wsum = _run_checked(
        K.cross_entropy, xd, td, wd, elem=td.shape, stats=td.shape + (2,), loss=(), wsum=(),
        ignore_index=int(ignore_index), label_smoothing=eps, reduction=red)
    out = elem if red == 0 else loss
    return make(out, _ce, (x,), (xd, td, wd, stats, wsum, int(ignore_index), eps, red))


def _lse_shape(xd):
    return xd.shape[:1] + xd.shape[2:] if xd.ndim > 1 else ()


@_ce.defvjp
def _(g, needs, xd, td, wd, stats, wsum, ignore, eps, red):
    return (D.run(K.cross_entropy_backward, g, xd, td, wd, stats, wsum, xd.shape,
                  ignore_index=ignore, label_smoothing=eps, reduction=red),)


@_ce_soft.defvjp
def _(g, needs, xd, yd, wd, lse, wsum, eps, red):
    dx = (D.run(K.cross_entropy_soft_backward, g, xd, yd, wd, lse, wsum, xd.shape,
                label_smoothing=eps, reduction=red) if needs[0] else None)
    dy = _ce_soft_target_grad(g, xd, wd, lse, wsum, eps, red) if needs[1] else None
    return dx, dy


def _ce_soft_target_grad(g, xd, wd, lse, wsum, eps, red):
    """d elem / d y_c = -(1 - eps) w_c log_softmax(x)_c = (1 - eps) w_c (lse - x_c), times g
    per sample ('none') or g / N ('mean') or g ('sum')."""
    col = (xd.shape[0], 1) + xd.shape[2:] if xd.ndim > 1 else ()   # per-sample, class dim 1
    ls = D.run(K.sub, lse.reshape(col), xd, xd.shape)                 # lse - x
    scale = (1.0 - eps) / (float(wsum) if red == 1 else 1.0)
    gs = g.reshape(col) if red == 0 else g
    dy = D.run(K.mul, ls, gs, xd.shape)
    dy = D.run(K.affine, dy, dy, alpha=scale, beta=0.0)
    if wd.size:
        wcol = wd.reshape((-1,) + (1,) * (xd.ndim - 2)) if xd.ndim > 1 else wd
        dy = D.run(K.mul, dy, wcol, dy)
    return dy


# ---- nll_loss ------------------------------------------------------------------------------
_nll = primitive("nll_loss")


@public(function=False, functional=True)
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities. Shapes as cross_entropy (index targets).
    loss_i = -w_t x[i, t];  'mean' divides by sum of w_t over non-ignored targets.
    Grad:   dx[i, t] = -g' w_t, zero elsewhere."""
    op = "nll_loss"
    x = _float_input(op, input)
    red = _reduction(op, reduction)
    xd = x._data
    n_classes = xd.shape[1] if xd.ndim > 1 else xd.shape[0] if xd.ndim else 0
    wd = _weight_data(op, weight, x, n_classes)
    td = _targets(op, target)
    elem, loss, wsum = _run_checked(K.nll_loss, xd, td, wd, elem=td.shape, loss=(), wsum=(),
                                    ignore_index=int(ignore_index), reduction=red)
    out = elem if red == 0 else loss
    return make(out, _nll, (x,), (td, wd, wsum, xd.shape, int(ignore_index), red))


@_nll.defvjp
def _(g, needs, td, wd, wsum, shape, ignore, red):
    return (D.run(K.nll_loss_backward, g, td, wd, wsum, shape, ignore_index=ignore, reduction=red),)


# ---- binary cross-entropy ------------------------------------------------------------------
_bce, _bce_logits = primitive("binary_cross_entropy"), primitive("bce_with_logits")


def _same_shape(op, x, y):
    if x.shape != y.shape:
        raise ValueError(f"{op}: target size {y.shape} must be the same as input size {x.shape}")


@public(function=False, functional=True)
def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """loss = -w (y log p + (1-y) log(1-p)), each log clamped at -100 (as torch).
    Shapes: input p in [0, 1] and target y the same shape; weight broadcasts to them.
    Grad:   dp = g (p - y) / max(p (1-p), 1e-12), dy = g (log(1-p) - log p)."""
    op = "binary_cross_entropy"
    red = _reduction(op, reduction)
    p, y = _float_pair(op, input, target)
    _same_shape(op, p, y)
    pd, yd = p._data, y._data
    loss = make(D.run(K.bce, pd, yd, pd.shape), _bce, (p, y), (pd, yd))
    if weight is not None:
        loss = mul(loss, weight)
    return _reduce(loss, red)


@_bce.defvjp
def _(g, needs, pd, yd):
    return (D.run(K.bce_backward, g, pd, yd, g.shape, which=0) if needs[0] else None,
            D.run(K.bce_backward, g, pd, yd, g.shape, which=1) if needs[1] else None)


@public(function=False, functional=True)
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",  # noqa: A002
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy, stable for any logit x:
    loss = w [(1-y) x + (1 + (pw-1) y) log(1 + e^-x)];  pos_weight pw broadcasts over the last
    dim (one per class). Grad: dx = w [(1-y) - (1 + (pw-1) y) sigmoid(-x)] (= sigmoid(x) - y
    without pos_weight), dy = w [(pw-1) log(1+e^-x) - x], dpw = w y log(1+e^-x)."""
    op = "binary_cross_entropy_with_logits"
    red = _reduction(op, reduction)
    x, y = _float_pair(op, input, target)
    _same_shape(op, x, y)
    xd, yd = x._data, y._data
    if pos_weight is None:
        pw = _wrap(_empty((), xd.dtype)).fill_(1.0)
    else:
        pw = pos_weight if isinstance(pos_weight, Tensor) else as_tensor(pos_weight)
        if pw._data.dtype != xd.dtype:
            pw = pw.to(xd.dtype)
    pwd = pw._data
    loss = make(D.run(K.bce_logits, xd, yd, pwd, xd.shape), _bce_logits, (x, y, pw), (xd, yd, pwd))
    if weight is not None:
        loss = mul(loss, weight)
    return _reduce(loss, red)


@_bce_logits.defvjp
def _(g, needs, xd, yd, pwd):
    return tuple(D.run(K.bce_logits_backward, g, xd, yd, pwd, g.shape, which=i) if needs[i] else None
                 for i in range(3))


# ---- regression losses -----------------------------------------------------------------------
_smooth_l1 = primitive("smooth_l1")


def _smooth_l1_of(d, beta):
    dd = d._data
    return make(D.run(K.smooth_l1, dd, dd.shape, beta), _smooth_l1, (d,), (dd, beta))


@_smooth_l1.defvjp
def _(g, needs, dd, beta):
    return (D.run(K.smooth_l1_backward, g, dd, g.shape, beta),)


@public(function=False, functional=True)
def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """loss = (x - y)^2, broadcast as torch.  Grad: dx = 2 (x - y) g."""
    red = _reduction("mse_loss", reduction)
    return _reduce(pow(sub(input, target), 2.0), red)


@public(function=False, functional=True)
def l1_loss(input, target, reduction="mean"):  # noqa: A002
    """loss = |x - y|.  Grad: dx = sign(x - y) g (0 at a tie, as torch)."""
    red = _reduction("l1_loss", reduction)
    return _reduce(abs(sub(input, target)), red)


@public(function=False, functional=True)
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):  # noqa: A002
    """d = x - y: loss = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (beta = 0: L1).
    Grad: dx = g d / beta inside, g sign(d) outside."""
    red = _reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _reduce(_smooth_l1_of(sub(input, target), float(beta)), red)


@public(function=False, functional=True)
def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    """loss = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta) = delta * smooth_l1(beta=delta)."""
    red = _reduction("huber_loss", reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    delta = float(delta)
    return _reduce(affine(_smooth_l1_of(sub(input, target), delta), delta, 0.0), red)


@public(function=False, functional=True)
def l1_penalty(params):
    """Plain sum of |p| over all parameters (the caller scales it): a 0-d tensor."""
    total = None
    for p in params:
        s = sum(abs(p))
        total = s if total is None else total + s
    if total is None:
        return _wrap(_empty((), _dt.get_default_dtype())).fill_(0.0)
    return total
