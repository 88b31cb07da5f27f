"""softmax, log_softmax, logsumexp along dims, numerically stable (every exp is of x - max).
Kernels: csrc/kernels/softmax.cpp. Backward rules:
    softmax:      dx = y * (g - sum_dim(g * y))
    log_softmax:  dx = g - exp(y) * sum_dim(g)
    logsumexp:    dx = g * exp(x - y)      (g, y broadcast over the reduced dims)
"""
import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, as_tensor
from .elementwise import _check_float, cast
from .reduce import _keep_shape, _out_shape, norm_dims, reduce_dims
from .shape import _permute_data

_softmax, _log_softmax, _logsumexp = (primitive("softmax"), primitive("log_softmax"),
                                      primitive("logsumexp"))


def _prepare(op, x, dim, dtype):
    x = x if type(x) is Tensor else as_tensor(x)
    if dtype is not None:
        x = cast(x, _dt.canonical(dtype))
    _check_float(op, x)
    if dim is None or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    (d,) = norm_dims(op, dim, x._data.ndim)
    return x, d


@public(method=True)
def softmax(x, dim=-1, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``. Shapes: any -> same. A slice of all -inf gives nan."""
    x, d = _prepare("softmax", x, dim, dtype)
    y = D.run(K.softmax, x._data, x._data.shape, dim=d)
    return make(y, _softmax, (x,), (y, d))


@_softmax.defvjp
def _(g, needs, y, d):
    return (D.run(K.softmax_backward, g, y, g.shape, dim=d),)


@public(method=True)
def log_softmax(x, dim=-1, dtype=None):
    """x - logsumexp(x, dim, keepdim=True). Shapes: any -> same."""
    x, d = _prepare("log_softmax", x, dim, dtype)
    y = D.run(K.log_softmax, x._data, x._data.shape, dim=d)
    return make(y, _log_softmax, (x,), (y, d))


@_log_softmax.defvjp
def _(g, needs, y, d):
    return (D.run(K.log_softmax_backward, g, y, g.shape, dim=d),)


@public(method=True)
def logsumexp(x, dim=None, keepdim=False):
    """log(sum(exp(x))) over ``dim`` (int, tuple, or None for every dim), as torch: -inf for
    slices of all -inf or empty slices, +inf when a slice holds +inf."""
    x = x if type(x) is Tensor else as_tensor(x)
    _check_float("logsumexp", x)
    xd = x._data
    nd = xd.ndim
    dims = reduce_dims("logsumexp", dim, nd)
    dims = dims or tuple(range(nd))  # dim=() reduces everything, as torch's reductions
    keep = _keep_shape(xd.shape, dims)
    src, d0, d1 = xd, 0, nd
    if dims:
        d0, d1 = dims[0], dims[-1] + 1
        # The kernel reduces one run of dims [d0, d1); a kept dim of size > 1 inside the run
        # means a copy with the reduced dims moved last.
        if any(xd.shape[j] != 1 for j in range(d0, d1) if j not in dims):
            kept = tuple(j for j in range(nd) if j not in dims)
            src = _permute_data(xd, kept + dims)
            d0, d1 = len(kept), nd
    y = D.run(K.logsumexp, src, keep, d0=d0, d1=d1)
    out = y if keepdim else y.reshape(_out_shape(xd.shape, dims, False))
    return make(out, _logsumexp, (x,), (xd, y, keep))


@_logsumexp.defvjp
def _(g, needs, x, y, keep):
    return (D.run(K.logsumexp_backward, g.reshape(keep), x, y, x.shape),)
