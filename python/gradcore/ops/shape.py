"""Shape ops: reshape/view (free: a numpy view), permute/transpose, expand, cat/stack,
indexing (basic slices and integer-array gathers). Kernels: csrc/kernels/shape.cpp."""
import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor
from .elementwise import broadcast_shape


def _norm_dim(op, d, ndim):
    lim = ndim if ndim else 1
    if not isinstance(d, (int, np.integer)) or not -lim <= d < lim:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dims "
                         f"(expected to be in range of [{-lim}, {lim - 1}])")
    return int(d) % lim


def _c_strides(shape):
    st, s = [], 1
    for d in reversed(shape):
        st.append(s)
        s *= d
    return tuple(reversed(st))


# ---- reshape / view: metadata only -------------------------------------------------------
_reshape = primitive("reshape")


@public(method=["reshape", "view"], aliases=("view",))
def reshape(x, *shape):
    x = x if type(x) is Tensor else as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    xd = x._data
    if any(isinstance(s, (int, np.integer)) and s < -1 for s in shape):
        raise ValueError(f"reshape: invalid shape dimension in {tuple(shape)}")
    try:
        y = xd.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: shape {tuple(shape)} is invalid for input of shape "
                         f"{xd.shape} ({xd.size} elements)") from None
    return make(y, _reshape, (x,), (xd.shape,))


@_reshape.defvjp
def _(g, needs, shape):
    return (g.reshape(shape),)




@public(method=True)
def flatten(x, start_dim=0, end_dim=-1):
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _norm_dim("flatten", start_dim, x.ndim), _norm_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    sh = x.shape
    n = 1
    for d in sh[s:e + 1]:
        n *= d
    return reshape(x, sh[:s] + (n,) + sh[e + 1:])


@public(method=True)
def unsqueeze(x, dim):
    x = as_tensor(x)
    d = _norm_dim("unsqueeze", dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


@public(method=True)
def squeeze(x, dim=None):
    x = as_tensor(x)
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = {_norm_dim("squeeze", d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


# ---- permute / transpose: a strided copy ---------------------------------------------------
_permute = primitive("permute")


def _permute_data(xd, perm):
    st = _c_strides(xd.shape)
    return D.run(K.strided_copy, xd, tuple(xd.shape[p] for p in perm), 0, tuple(st[p] for p in perm))


@public(method=True)
def permute(x, *dims):
    x = x if type(x) is Tensor else as_tensor(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x.ndim
    perm = tuple(_norm_dim("permute", d, nd) for d in dims)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"permute: dims {dims} are not a permutation of {nd} dims")
    if perm == tuple(range(nd)):
        return x
    return make(_permute_data(x._data, perm), _permute, (x,), (perm,))


@_permute.defvjp
def _(g, needs, perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return (_permute_data(g, inv),)


@public(method=True)
def transpose(x, dim0, dim1):
    x = as_tensor(x)
    nd = x.ndim
    if nd < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    a, b = _norm_dim("transpose", dim0, nd), _norm_dim("transpose", dim1, nd)
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, perm)


@public(method=True)
def t(x):
    x = as_tensor(x)
    return x if x.ndim < 2 else permute(x, tuple(reversed(range(x.ndim))))


# ---- expand: broadcast copy; the engine sums the gradient back ------------------------------
_expand = primitive("expand")


@public(method=True)
def expand(x, *shape):
    x = x if type(x) is Tensor else as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    xs = x.shape
    lead = len(shape) - len(xs)
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {xs} to {tuple(shape)} (fewer dims)")
    shape = tuple(xs[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    if broadcast_shape("expand", xs, shape) != shape:
        raise ValueError(f"expand: shape {xs} cannot be expanded to {shape}")
    if shape == xs:
        return x
    return make(D.run(K.expand, x._data, shape), _expand, (x,), ())


@_expand.defvjp
def _(g, needs):
    return (g,)


@public()
def broadcast_to(x, shape):
    return expand(x, shape)


_clone = primitive("clone")


@public(method=True)
def clone(x):
    x = as_tensor(x)
    return make(D.run(K.expand, x._data, x.shape), _clone, (x,), ())


_clone.defvjp(lambda g, needs: (g,))


# ---- cat / stack ------------------------------------------------------------------------------
_cat = primitive("cat")


@public(aliases=("concat", "concatenate"))
def cat(tensors, dim=0):
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = ts[0]
    nd = ref.ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    d = _norm_dim("cat", dim, nd)
    dtype = ref.dtype
    for i, t in enumerate(ts):
        if t.ndim != nd or t.shape[:d] != ref.shape[:d] or t.shape[d + 1:] != ref.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match "
                             f"tensor 0's shape {ref.shape} outside dim {d}")
        if t.dtype != dtype:
            from .elementwise import cast
            dtype = _dt.promote(dtype, t.dtype)
    ts = [t if t.dtype == dtype else t.to(dtype) for t in ts]
    shape = list(ref.shape)
    shape[d] = sum(t.shape[d] for t in ts)
    out = _empty(tuple(shape), dtype)
    st = _c_strides(shape)
    offsets, off = [], 0
    for t in ts:
        offsets.append(off * st[d])
        D.run(K.strided_put, t._data, out, 0, off * st[d], st)
        off += t.shape[d]
    return make(out, _cat, ts, (tuple(t.shape for t in ts), tuple(offsets), st))


@_cat.defvjp
def _(g, needs, shapes, offsets, st):
    return tuple(D.run(K.strided_copy, g, s, o, st) if nd else None
                 for s, o, nd in zip(shapes, offsets, needs))


@public()
def stack(tensors, dim=0):
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}")
    d = _norm_dim("stack", dim, ts[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in ts], d)


# ---- indexing -----------------------------------------------------------------------------
_slice, _gather = primitive("slice"), primitive("gather")


def _as_int_index(i):
    """A 0-d integer array or tensor indexes like an int (numpy, torch)."""
    a = i._data if isinstance(i, Tensor) else i
    if isinstance(a, np.ndarray) and a.ndim == 0 and a.dtype.kind in "iu":
        return int(a)
    return i


def _is_advanced(i):
    return isinstance(i, (list, np.ndarray, Tensor)) and not isinstance(i, bool)


@public(function=False, operators=("__getitem__",))
def getitem(x, idx):
    """x[idx]: ints, slices, None and Ellipsis (a strided copy), or integer arrays / bool masks
    on the leading dims (a row gather). Differentiable."""
    x = x if type(x) is Tensor else as_tensor(x)
    items = idx if isinstance(idx, tuple) else (idx,)
    items = tuple(_as_int_index(np.arange(it.start, it.stop, it.step) if type(it) is range
                                else it) for it in items)
    n_adv = 0
    for it in items:
        if _is_advanced(it):
            n_adv += 1
        else:
            break
    if n_adv:
        rest = items[n_adv:]
        y, k = _gather_rows(x, items[:n_adv])
        # numpy's rule for leading index arrays: the result's first dims are the broadcast
        # index shape (any ndim), then x's dims after the k indexed ones; the rest of the key
        # indexes those.
        lead = y.ndim - (x.ndim - k)
        return getitem(y, (slice(None),) * lead + rest) if rest else y
    for it in items:
        if _is_advanced(it):
            return _gather_positions(x, items)
    xd = x._data
    if not any(it is Ellipsis for it in items):
        items = items + (Ellipsis,)  # keeps a full integer index a 0-d view, not a scalar
    try:
        v = xd[items]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {xd.shape})") from None
    item = xd.itemsize
    if xd.size == 0 or v.size == 0:
        offset, strides = 0, tuple(0 for _ in v.shape)
    else:
        offset = (v.__array_interface__["data"][0] - xd.__array_interface__["data"][0]) // item
        strides = tuple(s // item for s in v.strides)
    y = D.run(K.strided_copy, xd, v.shape, offset, strides)
    if xd.dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, _slice, (x,), (xd.shape, offset, strides))


@_slice.defvjp
def _(g, needs, shape, offset, strides):
    dx = _empty(shape, g.dtype)
    D.run(K.fill, dx, 0.0)
    return (D.run(K.strided_put, g, dx, 0, offset, strides),)


def _gather_positions(x, items):
    """Advanced indices after a slice (x[:, [0, 2]], x[..., mask]): numpy's indexing of an
    arange gives the flat positions (numpy's rules are torch's here), one gather reads them."""
    xd = x._data
    items = tuple(i._data if isinstance(i, Tensor) else i for i in items)
    try:
        pos = np.array(np.arange(xd.size, dtype=np.int64).reshape(xd.shape)[items])
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {xd.shape})") from None
    flat = pos.reshape(-1)
    y = D.run(K.index_select0, xd.reshape(-1), flat, flat.shape).reshape(pos.shape)
    if xd.dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, _gather, (x,), (flat, (xd.size,), xd.shape))


def _gather_rows(x, adv):
    """Gather along the first len(adv) dims with integer arrays (broadcast together) or one
    bool mask."""
    xd = x._data
    arrs = [(a._data if isinstance(a, Tensor) else np.asarray(a)) for a in adv]
    if len(arrs) == 1 and arrs[0].dtype == np.bool_:
        m = arrs[0]
        if m.shape != xd.shape[:m.ndim]:
            raise IndexError(f"index: mask of shape {m.shape} does not match the leading dims "
                             f"of the tensor's shape {xd.shape}")
        arrs = list(np.nonzero(m))
    k = len(arrs)
    if k > xd.ndim:
        raise IndexError(f"index: too many indices ({k}) for a tensor of {xd.ndim} dims")
    for a in arrs:
        if a.dtype.kind not in "iu" and a.size:
            raise IndexError(f"index: index arrays must be integers or bools, got {a.dtype}")
    lead = xd.shape[:k]
    try:
        arrs = np.broadcast_arrays(*[a.astype(np.int64, copy=False) for a in arrs])
    except ValueError:
        raise IndexError(f"index: index arrays of shapes {[a.shape for a in arrs]} do not "
                         "broadcast together") from None
    for a, n in zip(arrs, lead):
        if a.size and (a.max() >= n or a.min() < -n):
            bad = a[(a >= n) | (a < -n)].flat[0]
            raise IndexError(f"index: index {bad} is out of bounds for dimension with size {n}")
    flat = np.ravel_multi_index(tuple(np.where(a < 0, a + n, a) for a, n in zip(arrs, lead)),
                                lead) if k > 1 else np.where(arrs[0] < 0, arrs[0] + lead[0], arrs[0])
    flat = np.ascontiguousarray(flat, dtype=np.int64)
    rows = 1
    for n in lead:
        rows *= n
    xr = xd.reshape((rows,) + xd.shape[k:])
    y = D.run(K.index_select0, xr, flat, flat.shape + xd.shape[k:])
    if xd.dtype not in _dt.FLOATS:
        return _wrap(y), k
    return make(y, _gather, (x,), (flat, xr.shape, xd.shape)), k


@_gather.defvjp
def _(g, needs, flat, rows_shape, shape):
    return (D.run(K.index_add0, g, flat, rows_shape).reshape(shape),)
