"""Ops along one dim backed by csrc/kernels/scan.cpp: cumsum, cumprod, logcumsumexp, cummax,
cummin, gather, scatter, scatter_add, index_select, sort, argsort, topk, kthvalue-free topk."""
import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..compile import host_compute
from ..tensor import Tensor, _empty, _wrap, as_tensor


def _np(a, dtype=None):
    """A C-contiguous array (0-d stays 0-d, unlike np.ascontiguousarray)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else a.copy()
from .reduce import values_indices
from .shape import _norm_dim


def _dim(op, x, dim):
    return _norm_dim(op, dim, x._data.ndim) if x._data.ndim else 0


def _as1d(x):
    """0-d tensors scan/sort as shape (1,)."""
    return x._data.reshape(1) if x._data.ndim == 0 else x._data


# ---- scans ----------------------------------------------------------------------------------
_scan = primitive("scan")


def _scan_op(x, dim, op, name, dtype=None):
    x = as_tensor(x)
    if dtype is not None:
        from .elementwise import cast
        x = cast(x, _dt.canonical(dtype))
    if x._data.dtype not in _dt.FLOATS:
        if op != 0:
            raise TypeError(f"{name}: expected a float tensor, got {x._data.dtype}")
        host_compute(f"{name}() of an integer tensor")
        a = np.cumsum(x._data.astype(np.int64), axis=_dim(name, x, dim) if x.ndim else None)
        return _wrap(_np(a.reshape(x.shape)))
    d = _dim(name, x, dim)
    xd = _as1d(x)
    y = D.run(K.scan, xd, xd.shape, dim=d, op=op).reshape(x.shape)
    return make(y, _scan, (x,), (xd, y.reshape(xd.shape), d, op, x.shape))


@_scan.defvjp
def _(g, needs, xd, y, d, op, shape):
    g = g.reshape(xd.shape)
    if op == 0:
        return (D.run(K.scan, g, g.shape, dim=d, op=0, reverse=1).reshape(shape),)
    return (D.run(K.scan_backward, g, xd, y, g.shape, dim=d, op=op).reshape(shape),)


@public(method=True)
def cumsum(x, dim, dtype=None):
    return _scan_op(x, dim, 0, "cumsum", dtype)


@public(method=True)
def cumprod(x, dim, dtype=None):
    return _scan_op(x, dim, 1, "cumprod", dtype)


@public(method=True)
def logcumsumexp(x, dim):
    return _scan_op(x, dim, 2, "logcumsumexp")


def _cum_extreme(x, dim, op, name):
    x = as_tensor(x)
    d = _dim(name, x, dim)
    xd = _as1d(x)
    v, i = D.run(K.cum_extreme, xd, xd.shape, xd.shape, dim=d, op=op)
    v, i = v.reshape(x.shape), i.reshape(x.shape)
    if xd.dtype in _dt.FLOATS:
        v = make(v, _gather, (x,), (i.reshape(xd.shape), d, xd.shape, x.shape))
    else:
        v = _wrap(v)
    return values_indices(v, _wrap(i))


@public(method=True)
def cummax(x, dim):
    return _cum_extreme(x, dim, 0, "cummax")


@public(method=True)
def cummin(x, dim):
    return _cum_extreme(x, dim, 1, "cummin")


# ---- gather / scatter -------------------------------------------------------------------------
_gather = primitive("gather_dim")


@_gather.defvjp
def _(g, needs, idx, d, xshape, outshape):
    z = _empty(xshape, g.dtype)
    D.run(K.fill, z, 0.0)
    return (D.run(K.scatter_along, z, g.reshape(idx.shape), idx, xshape, dim=d, add=1)
            .reshape(outshape),)


def _index(op, index):
    i = as_tensor(index)._data
    if i.dtype != _dt.int64:
        if i.dtype.kind not in "iu":
            raise TypeError(f"{op}: index must be an int64 tensor, got {i.dtype}")
        i = _np(i, dtype=np.int64)
    return i


@public(method=True)
def gather(x, dim, index):
    """out[i][j] = x[index[i][j]][j] (dim 0), as torch.gather: index has x's number of dims."""
    x = as_tensor(x)
    d = _dim("gather", x, dim)
    idx = _index("gather", index)
    xd = _as1d(x)
    idx1 = idx.reshape(1) if idx.ndim == 0 else idx
    y = D.run(K.gather_dim, xd, idx1, idx1.shape, dim=d).reshape(idx.shape)
    if xd.dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, _gather, (x,), (idx1, d, xd.shape, x.shape))


@public(function=False, method=True)
def take_along_dim(x, indices, dim):
    return gather(x, dim, indices)


_scatter = primitive("scatter")


def _scatter_op(x, dim, index, src, add, op):
    x = as_tensor(x)
    d = _dim(op, x, dim)
    idx = _index(op, index)
    if not isinstance(src, Tensor):
        if isinstance(src, np.ndarray):
            src = as_tensor(src, dtype=x.dtype)
        else:  # a scalar value: broadcast to the index's shape
            from ..tensor import full
            src = full(idx.shape, src, dtype=x.dtype)
    if src.dtype != x.dtype:
        from .elementwise import cast
        src = cast(src, x.dtype)
    xd, sd = _as1d(x), _as1d(src)
    idx1 = idx.reshape(1) if idx.ndim == 0 else idx
    y = D.run(K.scatter_along, xd, sd, idx1, xd.shape, dim=d, add=int(add)).reshape(x.shape)
    if xd.dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, _scatter, (x, src), (idx1, d, add, xd.shape, sd.shape, x.shape, src.shape))


@_scatter.defvjp
def _(g, needs, idx, d, add, xshape, sshape, shape, src_shape):
    g = g.reshape(xshape)
    dx = ds = None
    if needs[0]:
        if add:
            dx = g.reshape(shape)
        else:
            z = _empty(idx.shape, g.dtype)
            D.run(K.fill, z, 0.0)
            dx = D.run(K.scatter_along, g, z, idx, xshape, dim=d, add=0).reshape(shape)
    if needs[1]:
        gi = D.run(K.gather_dim, g, idx, idx.shape, dim=d)
        if gi.shape != sshape:  # src larger than index: the rest gets no gradient
            full = _empty(sshape, g.dtype)
            D.run(K.fill, full, 0.0)
            from .shape import _c_strides
            D.run(K.strided_put, gi, full, 0, 0, _c_strides(sshape))
            gi = full
        ds = gi.reshape(src_shape)
    return dx, ds


@public(method=True)
def scatter(x, dim, index, src=None, value=None, reduce=None):
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (use "
                                      "reduce='add' or scatter_add)")
        return scatter_add(x, dim, index, src if src is not None else value)
    return _scatter_op(x, dim, index, src if src is not None else value, False, "scatter")


@public(method=True)
def scatter_add(x, dim, index, src):
    return _scatter_op(x, dim, index, src, True, "scatter_add")


@public(method=True)
def index_select(x, dim, index):
    """Rows (along dim) picked by a 1-D int64 index, as torch.index_select."""
    x = as_tensor(x)
    idx = _index("index_select", index)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 0-d or 1-D, got shape {idx.shape}")
    idx = idx.reshape(-1)
    d = _dim("index_select", x, dim)
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index_select: index out of range for dimension {d} with size {n}")
    idx = np.where(idx < 0, idx + n, idx)
    shape = [1] * max(x.ndim, 1)
    shape[d] = idx.size
    full_shape = list(x.shape) if x.ndim else [1]
    full_shape[d] = idx.size
    gidx = _np(np.broadcast_to(idx.reshape(shape), full_shape))
    return gather(x if x.ndim else x.reshape(1), d, _wrap(gidx))


# ---- sort / argsort / topk -----------------------------------------------------------------------
@public(method=True)
def sort(x, dim=-1, descending=False, stable=False):
    """values, indices = sort(x, dim): ascending (NaN last) unless descending; stable."""
    x = as_tensor(x)
    d = _dim("sort", x, dim)
    xd = _as1d(x)
    v, i = D.run(K.sort_dim, xd, xd.shape, xd.shape, dim=d, descending=int(bool(descending)))
    if xd.dtype in _dt.FLOATS:
        v = make(v.reshape(x.shape), _gather, (x,), (i, d, xd.shape, x.shape))
    else:
        v = _wrap(v.reshape(x.shape))
    return values_indices(v, _wrap(i.reshape(x.shape)))


@public(method=True)
def argsort(x, dim=-1, descending=False, stable=False):
    return sort(x, dim, descending).indices


@public(method=True)
def msort(x):
    return sort(x, 0).values


@public(method=True)
def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """The k largest (or smallest) values along dim and their indices."""
    x = as_tensor(x)
    d = _dim("topk", x, dim)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) is out of range for dimension {d} of size {n}")
    _, i = sort(x.detach(), d, descending=largest)
    sl = [slice(None)] * max(x.ndim, 1)
    sl[d] = slice(0, k)
    host_compute("topk()")
    idx = _np(i._data.reshape(i.shape if x.ndim else (1,))[tuple(sl)])
    if x.ndim == 0:
        idx = idx.reshape(())
    return values_indices(gather(x, d, _wrap(idx)), _wrap(idx))


@public(method=True)
def kthvalue(x, k, dim=-1, keepdim=False):
    """The k-th smallest value (1-based) along dim and its index."""
    x = as_tensor(x)
    d = _dim("kthvalue", x, dim)
    v, i = topk(x, k, d, largest=False)
    from .shape import getitem
    sl = [slice(None)] * x.ndim
    sl[d] = slice(k - 1, k) if keepdim else k - 1
    return values_indices(getitem(v, tuple(sl)), getitem(i, tuple(sl)))
