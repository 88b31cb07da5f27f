"""Normalisation primitives over the fused kernels of csrc/kernels/norm.cpp: batch_norm (its
running-statistics update is a kernel too, in place on the buffers, so a recorded training
step replays it), layer_norm and group_norm. Each forward is one kernel (statistics pass +
output pass) saving the mean and the inverse std; each backward is one kernel giving dx,
dweight and dbias (only those whose input wants a gradient).

    xhat = (x - mean) * rstd,  y = xhat * w + b,  rstd = 1 / sqrt(var + eps)  (biased var)
    dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)),  gw = g * w  (means over a slice)
    dw = sum of g * xhat,  db = sum of g    (over every element the weight element scales)
"""
import numbers

from ..engine import make
from .public import public
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, as_tensor
from .elementwise import _check_float

_bn, _ln, _gn = primitive("batch_norm"), primitive("layer_norm"), primitive("group_norm")
_EMPTY = {}


def _none(dtype):
    """The (0,) array that stands for an absent optional tensor (weight, bias, a grad)."""
    if dtype not in _EMPTY:
        _EMPTY[dtype] = _empty((0,), dtype)
    return _EMPTY[dtype]


def _input(op, x):
    x = x if type(x) is Tensor else as_tensor(x)
    _check_float(op, x)
    return x


def _affine(op, x, weight, bias, shape, what):
    """weight/bias as (inputs, weight array, bias array); absent ones are (0,) arrays.
    ``what(name, got)`` words a shape mismatch."""
    inputs, arrays = [x], []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            arrays.append(_none(x._data.dtype))
            continue
        t = p if isinstance(p, Tensor) else as_tensor(p)
        if t._data.dtype != x._data.dtype:
            raise TypeError(f"{op}: {name} is {t._data.dtype} but the input is {x._data.dtype}")
        if t.shape != shape:
            raise ValueError(what(name, t.shape))
        inputs.append(t)
        arrays.append(t._data)
    return tuple(inputs), arrays[0], arrays[1]


def _grad_shapes(needs, xshape, pshape, has_w, has_b):
    """Output shapes for a backward kernel: the input's / parameter's shape where a gradient
    is wanted, (0,) (not computed) elsewhere."""
    i = 1
    dw = db = (0,)
    if has_w:
        dw, i = (pshape if needs[i] else (0,)), i + 1
    if has_b:
        db = pshape if needs[i] else (0,)
    return (xshape if needs[0] else (0,)), dw, db


def _pick(needs, has_w, has_b, dx, dw, db):
    out = [dx if needs[0] else None]
    if has_w:
        out.append(dw if needs[len(out)] else None)
    if has_b:
        out.append(db if needs[len(out)] else None)
    return tuple(out)


# ---- batch_norm ----------------------------------------------------------------------------
def _stat(op, name, t, x, c, in_place):
    if t is None:
        return None
    s = t if isinstance(t, Tensor) else as_tensor(t)
    if in_place and s._data is not t and not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} is updated in place: pass a tensor (or a C-contiguous "
                        f"array of the input's dtype), got a {type(t).__name__} that would be "
                        "copied")
    if s._data.dtype != x._data.dtype:
        raise TypeError(f"{op}: {name} is {s._data.dtype} but the input is {x._data.dtype}")
    if s.shape != (c,):
        raise ValueError(f"{op}: {name} should contain {c} elements (one per channel of input "
                         f"{x.shape}), got shape {s.shape}")
    return s


@public(function=False, functional=True)
def batch_norm(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C, *) input, one statistic per channel over N and *.
    training: batch mean and biased variance normalise; running_mean/var (if given) become
      (1 - momentum) * running + momentum * batch (unbiased batch variance for running_var).
    eval: running_mean/var normalise.  Shapes: running stats, weight, bias (C,).
    Grad (training): dx = w*invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)), M = N * prod(*);
      (eval): dx = g * w * invstd;  dw = sum(g * xhat), db = sum(g) per channel."""
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input, running_mean, running_var, weight, bias,  # noqa: A002
                training, momentum, eps, num_batches_tracked=None):
    """batch_norm, plus the modules' num_batches_tracked (an int64 0-d tensor): the update
    kernel increments it and, for momentum=None, averages cumulatively (factor 1/count)."""
    op = "batch_norm"
    x = _input(op, input)
    xd = x._data
    if xd.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, ...) with at least 2 dims, got {xd.shape}")
    c = xd.shape[1]
    inputs, wd, bd = _affine(op, x, weight, bias, (c,), lambda n, s: (
        f"{op}: {n} should have shape ({c},) for the {c} channels of input {xd.shape}, got {s}"))
    update = bool(training) and running_mean is not None
    rm = _stat(op, "running_mean", running_mean, x, c, update)
    rv = _stat(op, "running_var", running_var, x, c, update)
    if (rm is None) != (rv is None):
        raise ValueError(f"{op}: running_mean and running_var must both be given or both be None")
    if not training and rm is None:
        raise ValueError(f"{op}: running_mean and running_var must be defined in evaluation mode "
                         "(training=False)")
    m = xd.shape[0]
    for s in xd.shape[2:]:
        m *= s
    if training and m == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{xd.shape}")
    if update and momentum is None and num_batches_tracked is None:
        raise TypeError(f"{op}: momentum must be a float (momentum=None, the cumulative "
                        "average, needs the BatchNorm modules' num_batches_tracked)")
    none = _none(xd.dtype)
    y, mean, invstd, var = D.run(K.batch_norm, xd, wd, bd, none if rm is None else rm._data,
                               none if rv is None else rv._data, xd.shape, (c,), (c,), (c,),
                               int(bool(training)), float(eps))
    if update:
        state = (rm._data, rv._data, mean, var)
        if num_batches_tracked is not None:
            state += (num_batches_tracked._data,)
        D.run(K.batch_norm_update_stats, *state,
              momentum=-1.0 if momentum is None else float(momentum), count=m)
    return make(y, _bn, inputs, (xd, wd, mean, invstd, int(bool(training)),
                                 weight is not None, bias is not None))


@_bn.defvjp
def _(g, needs, xd, wd, mean, invstd, training, has_w, has_b):
    shapes = _grad_shapes(needs, xd.shape, mean.shape, has_w, has_b)
    dx, dw, db = D.run(K.batch_norm_backward, g, xd, wd, mean, invstd, *shapes, training)
    return _pick(needs, has_w, has_b, dx, dw, db)


# ---- layer_norm ----------------------------------------------------------------------------
def _shape_tuple(op, shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: normalized_shape must be an int or a sequence of ints, got "
                        f"{shape!r}") from None


@public(function=False, functional=True)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalises over the trailing dims ``normalized_shape``: one mean/variance per leading
    index. weight, bias: ``normalized_shape``.  Grad: dx = rstd (gw - mean(gw) - xhat
    mean(gw xhat)) per row of D = prod(normalized_shape) elements; dw = sum over rows of
    g xhat, db = sum over rows of g."""
    op = "layer_norm"
    x = _input(op, input)
    xd = x._data
    ns = _shape_tuple(op, normalized_shape)
    if not ns:
        raise ValueError(f"{op}: expected normalized_shape to be at least 1-dimensional, got ()")
    if xd.shape[xd.ndim - len(ns):] != ns or len(ns) > xd.ndim:
        raise ValueError(f"{op}: given normalized_shape={list(ns)}, expected input with shape "
                         f"[*, {', '.join(map(str, ns))}], but got input of size {xd.shape}")
    inputs, wd, bd = _affine(op, x, weight, bias, ns, lambda n, s: (
        f"{op}: expected {n} to be of same shape as normalized_shape, but got {n} of shape "
        f"{s} and normalized_shape = {ns}"))
    d = 1
    for s in ns:
        d *= s
    if d == 0:
        raise ValueError(f"{op}: normalized_shape={ns} has no elements to normalise")
    r = xd.size // d
    y, mean, rstd = D.run(K.layer_norm, xd, wd, bd, xd.shape, (r,), (r,), normalized_numel=d,
                           eps=float(eps))
    return make(y, _ln, inputs, (xd, wd, mean, rstd, ns, d, weight is not None, bias is not None))


@_ln.defvjp
def _(g, needs, xd, wd, mean, rstd, ns, d, has_w, has_b):
    shapes = _grad_shapes(needs, xd.shape, ns, has_w, has_b)
    dx, dw, db = D.run(K.layer_norm_backward, g, xd, wd, mean, rstd, *shapes, d)
    return _pick(needs, has_w, has_b, dx, dw, db)


# ---- group_norm ----------------------------------------------------------------------------
@public(function=False, functional=True)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Splits the C channels of (N, C, *) input into ``num_groups`` groups and normalises each
    (sample, group) over its C/G channels and *. weight, bias: (C,).  Grad: dx as layer_norm
    per (sample, group) with gw = g * w[c]; dw[c] = sum over N, * of g xhat, db[c] of g."""
    op = "group_norm"
    x = _input(op, input)
    xd = x._data
    if xd.ndim < 2:
        raise ValueError(f"{op}: expected at least 2 dimensions (N, C, *) for input, got "
                         f"{xd.shape}")
    n, c = xd.shape[:2]
    G = int(num_groups)
    if G <= 0 or c % G:
        raise ValueError(f"{op}: expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {xd.shape} and num_groups={G}")
    inputs, wd, bd = _affine(op, x, weight, bias, (c,), lambda nm, s: (
        f"{op}: expected {nm} to be a vector of size equal to the number of channels in input, "
        f"but got {nm} of shape {s} and input of shape {xd.shape}"))
    y, mean, rstd = D.run(K.group_norm, xd, wd, bd, xd.shape, (n, G), (n, G), num_groups=G,
                           eps=float(eps))
    return make(y, _gn, inputs, (xd, wd, mean, rstd, G, weight is not None, bias is not None))


@_gn.defvjp
def _(g, needs, xd, wd, mean, rstd, G, has_w, has_b):
    shapes = _grad_shapes(needs, xd.shape, (xd.shape[1],), has_w, has_b)
    dx, dw, db = D.run(K.group_norm_backward, g, xd, wd, mean, rstd, *shapes, G)
    return _pick(needs, has_w, has_b, dx, dw, db)


__all__ = ["batch_norm", "layer_norm", "group_norm"]
