"""Reductions over any set of dims with keepdim: sum, mean, var, amax/amin, max/min.
Kernels: csrc/kernels/reduce.cpp (sum_to, amax_to, max_dim, ...)."""
import builtins
import collections

import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor
from .elementwise import _check_float, cast, maximum, minimum, mul, sub

values_indices = collections.namedtuple("values_indices", ["values", "indices"])


_INTS = (int, np.integer)


def norm_dims(op, dim, ndim):
    """dim (None, int or tuple) -> sorted tuple of non-negative dims; errors name the op."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, _INTS) else tuple(dim)
    out = set()
    for d in dims:
        if not isinstance(d, _INTS):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        lim = builtins.max(ndim, 1)
        if not -lim <= d < lim:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dims "
                             f"(expected to be in range of [{-lim}, {lim - 1}])")
        k = int(d) % lim if ndim else 0
        if k in out:
            raise ValueError(f"{op}: dim {k} appears multiple times in the list of dims {dim!r}")
        out.add(k)
    return tuple(sorted(out))


def reduce_dims(op, dim, ndim):
    """norm_dims for a reduction: a 0-d tensor accepts dim 0 / -1 and has nothing to reduce."""
    dims = norm_dims(op, dim, ndim)
    return dims if ndim else ()


def _keep_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _out_shape(shape, dims, keepdim):
    if keepdim:
        return _keep_shape(shape, dims)
    return tuple(s for i, s in enumerate(shape) if i not in dims)


# ---- sum / mean --------------------------------------------------------------------------
# y = scale * sum_{dims} x            dx = scale * g broadcast to x (sum_backward)
_sum = primitive("sum")


def _sum_scaled(x, dim, keepdim, scale_by_count, op):
    x = x if type(x) is Tensor else as_tensor(x)
    xd = x._data
    dims = reduce_dims(op, dim, xd.ndim)
    keep = _keep_shape(xd.shape, dims)
    if xd.dtype not in _dt.FLOATS:
        if scale_by_count:
            raise TypeError(f"{op}: expected a float tensor, got {xd.dtype}")
        xi = xd if xd.dtype == _dt.int64 else D.run(K.cast, xd, _empty(xd.shape, _dt.int64))
        return _wrap(D.run(K.sum_to, xi, keep).reshape(_out_shape(xd.shape, dims, keepdim)))
    scale = 1.0
    if scale_by_count:
        n = 1
        for d in dims:
            n *= xd.shape[d]
        scale = 1.0 / n if n else float("nan")
    y = D.run(K.sum_to, xd, keep, scale)
    if not keepdim:
        y = y.reshape(_out_shape(xd.shape, dims, False))
    return make(y, _sum, (x,), (keep, xd.shape, scale))


@_sum.defvjp
def _(g, needs, keep, shape, scale):
    return (D.run(K.sum_backward, g.reshape(keep), shape, scale),)


@public(method=True)
def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    if dtype is not None:
        x = cast(as_tensor(x), _dt.canonical(dtype))
    return _sum_scaled(x, dim, keepdim, False, "sum")


@public(method=True)
def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = cast(as_tensor(x), _dt.canonical(dtype))
    return _sum_scaled(x, dim, keepdim, True, "mean")


@public(method=True)
def var(x, dim=None, unbiased=True, keepdim=False, correction=None):
    """Variance; ``correction`` (torch's newer name) overrides ``unbiased``."""
    x = as_tensor(x)
    _check_float("var", x)
    dims = reduce_dims("var", dim, x.ndim)
    n = 1
    for d in dims:
        n *= x.shape[d]
    c = (1 if unbiased else 0) if correction is None else correction
    d = sub(x, _sum_scaled(x, dims, True, True, "var"))
    ss = _sum_scaled(mul(d, d), dims, keepdim, False, "var")
    if n - c > 0:
        return mul(ss, 1.0 / (n - c))
    from .elementwise import div  # torch divides by max(0, N - correction): inf, or nan for 0/0
    return div(ss, 0.0)


@public(method=True)
def std(x, dim=None, unbiased=True, keepdim=False, correction=None):
    from .elementwise import sqrt
    return sqrt(var(x, dim, unbiased, keepdim, correction))


# ---- amax / amin ---------------------------------------------------------------------------
# dx = g * [x == y] / count(x == y): ties share the gradient evenly (as torch)
_amax, _amin = primitive("amax"), primitive("amin")


def _extreme(prim, kid, op, x, dim, keepdim):
    x = x if type(x) is Tensor else as_tensor(x)
    xd = x._data
    dims = reduce_dims(op, dim, xd.ndim)
    keep = _keep_shape(xd.shape, dims)
    if any(xd.shape[d] == 0 for d in dims):  # torch allows empty inputs over non-empty dims
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {xd.shape} "
                         "(the operation has no identity)")
    y = D.run(kid, xd, keep)
    out = y if keepdim else y.reshape(_out_shape(xd.shape, dims, False))
    if xd.dtype not in _dt.FLOATS:
        return _wrap(out)
    return make(out, prim, (x,), (xd, y, keep))


def _extreme_vjp(g, needs, x, y, keep):
    count = D.run(K.count_eq_to, x, y, keep)
    return (D.run(K.extreme_backward, g.reshape(keep), x, y, count, x.shape),)


_amax.defvjp(_extreme_vjp)
_amin.defvjp(_extreme_vjp)


@public(method=True)
def amax(x, dim=None, keepdim=False):
    return _extreme(_amax, K.amax_to, "amax", x, dim, keepdim)


@public(method=True)
def amin(x, dim=None, keepdim=False):
    return _extreme(_amin, K.amin_to, "amin", x, dim, keepdim)


# ---- max / min: over everything, along a dim with indices, or elementwise -------------------
_max_dim, _min_dim = primitive("max_dim"), primitive("min_dim")


def _extreme_dim(prim, kid, op, x, dim, keepdim):
    x = x if type(x) is Tensor else as_tensor(x)
    xd = x._data
    (d,) = norm_dims(op, dim, xd.ndim)
    if xd.ndim and xd.shape[d] == 0:
        raise IndexError(f"{op}: dim {d} of shape {xd.shape} is empty")
    if xd.ndim == 0:
        return values_indices(x, _wrap(_empty((), _dt.int64)).zero_())
    keep = _keep_shape(xd.shape, (d,))
    v, i = D.run(kid, xd, keep, keep, dim=d)
    if not keepdim:
        shape = _out_shape(xd.shape, (d,), False)
        v, i = v.reshape(shape), i.reshape(shape)
    idx = _wrap(i)
    if xd.dtype not in _dt.FLOATS:
        return values_indices(_wrap(v), idx)
    return values_indices(make(v, prim, (x,), (i, keep, xd.shape, d)), idx)


def _extreme_dim_vjp(g, needs, idx, keep, shape, d):
    return (D.run(K.scatter_dim, g.reshape(keep), idx.reshape(keep), shape, d),)


_max_dim.defvjp(_extreme_dim_vjp)
_min_dim.defvjp(_extreme_dim_vjp)


@public(method=True)
def max(x, dim=None, keepdim=False):  # noqa: A001
    """max(x) -> 0-d tensor; max(x, dim) -> (values, indices); max(x, other) -> maximum."""
    if dim is None:
        return _extreme(_amax, K.amax_to, "max", x, None, False)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"max: dim must be an int, got {dim!r}; use amax/amin for several dims")
    if not isinstance(dim, _INTS):
        return maximum(x, dim)
    return _extreme_dim(_max_dim, K.max_dim, "max", x, dim, keepdim)


@public(method=True)
def min(x, dim=None, keepdim=False):  # noqa: A001
    if dim is None:
        return _extreme(_amin, K.amin_to, "min", x, None, False)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"min: dim must be an int, got {dim!r}; use amax/amin for several dims")
    if not isinstance(dim, _INTS):
        return minimum(x, dim)
    return _extreme_dim(_min_dim, K.min_dim, "min", x, dim, keepdim)


@public(method=True)
def argmax(x, dim=None, keepdim=False):
    x = as_tensor(x)
    if dim is None:
        return _extreme_dim(_max_dim, K.max_dim, "argmax", x.detach().reshape(-1), 0, False)[1]
    return _extreme_dim(_max_dim, K.max_dim, "argmax", x.detach(), dim, keepdim)[1]


@public(method=True)
def argmin(x, dim=None, keepdim=False):
    x = as_tensor(x)
    if dim is None:
        return _extreme_dim(_min_dim, K.min_dim, "argmin", x.detach().reshape(-1), 0, False)[1]
    return _extreme_dim(_min_dim, K.min_dim, "argmin", x.detach(), dim, keepdim)[1]
