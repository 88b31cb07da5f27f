"""Everyday torch functions: rounding and special functions (math_more kernel), NaN/Inf tests,
reductions (prod, norm, all, any, var_mean, std_mean), comparisons (isclose, allclose),
selection (masked_fill, masked_select, nonzero, where(cond), unique), shape helpers (chunk,
split, repeat, tile, flip, roll, tril, triu, diag, outer, einsum, pad) and creation (eye,
randn_like, rand_like, randint_like). Composites are written in differentiable primitives;
data-dependent shapes (nonzero, masked_select, unique) use numpy for the index arithmetic.
Kernels: csrc/kernels/pointwise_more.cpp."""
import builtins
import math

import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor


def _np(a, dtype=None):
    """A C-contiguous array (0-d stays 0-d, unlike np.ascontiguousarray)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else a.copy()
from . import elementwise as E
from . import reduce as R
from . import shape as S
from .elementwise import _check_float

# ---- rounding and special functions ------------------------------------------------------------
_math = primitive("math_more")


def _math_fn(name, code, int_passthrough=False):
    def fn(x):
        x = x if type(x) is Tensor else as_tensor(x)
        if x._data.dtype not in _dt.FLOATS:
            if int_passthrough:
                return x.clone() if name != "sign" else _int_sign(x)
            x = E.cast(x, _dt.get_default_dtype())
        xd = x._data
        y = D.run(K.math_more, xd, xd.shape, op=code)
        return make(y, _math, (x,), (xd, y, code))
    fn.__name__ = name
    public(fn, method=True)
    return fn


def _int_sign(x):
    return _wrap(np.sign(x._data).astype(x._data.dtype))


@_math.defvjp
def _(g, needs, x, y, code):
    return (D.run(K.math_more_backward, g, x, y, g.shape, op=code),)


floor = _math_fn("floor", 0, True)
ceil = _math_fn("ceil", 1, True)
_round0 = _math_fn("_round", 2, True)
trunc = _math_fn("trunc", 3, True)
sign = _math_fn("sign", 4, True)
log1p = _math_fn("log1p", 5)
expm1 = _math_fn("expm1", 6)
erf = _math_fn("erf", 7)
public(trunc, method=["fix"], aliases=("fix",))


@public(method=True)
def round(x, decimals=0):  # noqa: A001
    """Round half to even (as torch); ``decimals`` scales by 10**decimals first."""
    if decimals == 0:
        return _round0(x)
    s = 10.0 ** decimals
    return E.mul(_round0(E.mul(x, s)), 1.0 / s)


@public(method=True)
def reciprocal(x):
    return E.div(1.0, x)


@public(method=True)
def erfc(x):
    return E.sub(1.0, erf(x))


@public(method=True)
def log2(x):
    return E.mul(E.log(x), 1.0 / math.log(2.0))


@public(method=True)
def log10(x):
    return E.mul(E.log(x), 1.0 / math.log(10.0))


@public(method=True)
def exp2(x):
    return E.pow(2.0, x)


@public(method=True)
def frac(x):
    return E.sub(x, trunc(x))


def _classify(name, code, int_value):
    def fn(x):
        x = as_tensor(x)
        if x._data.dtype not in _dt.FLOATS:
            out = _empty(x._data.shape, _dt.bool_)
            D.run(K.fill, out, float(int_value))
            return _wrap(out)
        return _wrap(D.run(K.classify, x._data, x._data.shape, op=code))
    fn.__name__ = name
    public(fn, method=True)
    return fn


isnan = _classify("isnan", 0, False)
isfinite = _classify("isfinite", 1, True)
isinf = _classify("isinf", 2, False)
isposinf = _classify("isposinf", 3, False)
isneginf = _classify("isneginf", 4, False)

_nan_to_num = primitive("nan_to_num")


@public(method=True)
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = as_tensor(x)
    if x._data.dtype not in _dt.FLOATS:
        return x.clone()
    fi = np.finfo(x._data.dtype)
    xd = x._data
    y = D.run(K.nan_to_num, xd, xd.shape, nan=float(nan),
              posinf=float(fi.max if posinf is None else posinf),
              neginf=float(fi.min if neginf is None else neginf))
    return make(y, _nan_to_num, (x,), (D.run(K.classify, xd, xd.shape, op=1),))


@_nan_to_num.defvjp
def _(g, needs, finite):
    return (D.run(K.where_grad, finite, g, g.shape, side=1),)


# ---- reductions and comparisons -----------------------------------------------------------------
@public(method=True)
def prod(x, dim=None, keepdim=False, dtype=None):
    """Product over all elements or along one dim (differentiable, zeros included)."""
    from .scan import cumprod
    x = as_tensor(x)
    if dtype is not None:
        x = E.cast(x, _dt.canonical(dtype))
    if x._data.dtype not in _dt.FLOATS:
        a = np.prod(x._data, axis=dim, keepdims=keepdim and dim is not None)
        return _wrap(_np(np.asarray(a, dtype=np.int64)))
    if dim is None:
        flat = S.reshape(x, (-1,))
        if flat.shape[0] == 0:
            return E.add(R.sum(flat), 1.0)
        return S.getitem(cumprod(flat, 0), -1)
    d = S._norm_dim("prod", dim, x.ndim)
    if x.shape[d] == 0:
        return E.add(R.sum(x, d, keepdim), 1.0)
    c = cumprod(x, d)
    sl = [slice(None)] * x.ndim
    sl[d] = slice(-1, None) if keepdim else -1
    return S.getitem(c, tuple(sl))


@public(method=True)
def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over dims (default all): 2 / 'fro', 1, inf, -inf, 0, or any p > 0."""
    x = as_tensor(x)
    if dtype is not None:
        x = E.cast(x, _dt.canonical(dtype))
    if x._data.dtype not in _dt.FLOATS:
        raise TypeError(f"norm: expected a float tensor, got {x._data.dtype}")
    if p in ("fro", 2, 2.0, None):
        return E.sqrt(R.sum(E.mul(x, x), dim, keepdim))
    if p == "nuc":
        raise NotImplementedError("norm: p='nuc' (nuclear norm) is not supported")
    a = E.abs(x)
    if p in (float("inf"), "inf"):
        return R.amax(a, dim if dim is not None else tuple(range(x.ndim)), keepdim)
    if p in (float("-inf"), "-inf"):
        return R.amin(a, dim if dim is not None else tuple(range(x.ndim)), keepdim)
    if p == 0:
        return R.sum(E.cast(E.ne(x, 0), x.dtype), dim, keepdim)
    if p == 1:
        return R.sum(a, dim, keepdim)
    return E.pow(R.sum(E.pow(a, float(p)), dim, keepdim), 1.0 / float(p))


def _vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None):  # noqa: A002
    return norm(x, ord, dim, keepdim, dtype)


def _matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False, dtype=None):  # noqa: A002
    if ord != "fro":
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} is not supported (only 'fro')")
    return norm(x, "fro", dim, keepdim, dtype)


def _linalg_norm(x, ord=None, dim=None, keepdim=False, dtype=None):  # noqa: A002
    return norm(x, 2 if ord is None else ord, dim, keepdim, dtype)


@public(method=True)
def all(x, dim=None, keepdim=False):  # noqa: A001
    x = as_tensor(x)
    b = x._data.astype(bool, copy=False)
    return _wrap(_np(np.all(b, axis=dim, keepdims=keepdim and dim is not None)))


@public(method=True)
def any(x, dim=None, keepdim=False):  # noqa: A001
    x = as_tensor(x)
    b = x._data.astype(bool, copy=False)
    return _wrap(_np(np.any(b, axis=dim, keepdims=keepdim and dim is not None)))


@public(method=True)
def var_mean(x, dim=None, unbiased=True, keepdim=False, correction=None):
    return (R.var(x, dim, unbiased, keepdim, correction), R.mean(x, dim, keepdim))


@public(method=True)
def std_mean(x, dim=None, unbiased=True, keepdim=False, correction=None):
    return (R.std(x, dim, unbiased, keepdim, correction), R.mean(x, dim, keepdim))


@public(method=True)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = as_tensor(a), as_tensor(b)
    return _wrap(_np(np.isclose(a._data, b._data, rtol=rtol, atol=atol,
                                                 equal_nan=equal_nan)))


@public(method=True)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(np.all(isclose(a, b, rtol, atol, equal_nan)._data))


@public(method=True)
def equal(a, b):
    a, b = as_tensor(a), as_tensor(b)
    return a.shape == b.shape and builtins.bool(np.array_equal(a._data, b._data))


# ---- selection ----------------------------------------------------------------------------------
@public(method=True)
def masked_fill(x, mask, value):
    """x where mask is False, value where it is True (mask broadcasts to x)."""
    x = as_tensor(x)
    mask = as_tensor(mask)
    if mask._data.dtype != _dt.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask._data.dtype}; "
                        "build it with a comparison (x > 0) or .bool()")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError("masked_fill: value must be a 0-d tensor or a number")
        v = value if value.dtype == x.dtype else E.cast(value, x.dtype)
    else:
        v = _wrap(np.asarray(value, dtype=x._data.dtype))
    out = E.where(mask, v, x)
    if out.shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to "
                         f"{x.shape}")
    return out


@public(method=True)
def masked_select(x, mask):
    """The elements of x where mask is True, as a 1-D tensor (differentiable in x)."""
    x, mask = as_tensor(x), as_tensor(mask)
    shape = E.broadcast_shape("masked_select", x.shape, mask.shape)
    xb = S.expand(x, shape) if x.shape != shape else x
    mb = np.broadcast_to(mask._data, shape)
    return S.getitem(S.reshape(xb, (-1,)), _wrap(_np(np.flatnonzero(mb))))


@public(method=True)
def nonzero(x, as_tuple=False):
    x = as_tensor(x)
    nz = np.nonzero(x._data if x.ndim else x._data.reshape(1))
    if as_tuple:
        return tuple(_wrap(_np(a, dtype=np.int64)) for a in nz)
    return _wrap(_np(np.stack(nz, 1), dtype=np.int64) if nz else
                 np.zeros((0, 0), np.int64))


@public(method=True)
def argwhere(x):
    return nonzero(x)


@public(method=True)
def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    x = as_tensor(x)
    if dim is not None:
        raise NotImplementedError("unique: dim= is not supported; flatten first")
    r = np.unique(x._data, return_inverse=return_inverse, return_counts=return_counts)
    if not (return_inverse or return_counts):
        return _wrap(_np(r))
    out = [_wrap(_np(r[0]))]
    if return_inverse:
        out.append(_wrap(_np(r[1].reshape(x.shape), dtype=np.int64)))
    if return_counts:
        out.append(_wrap(_np(r[-1], dtype=np.int64)))
    return tuple(out)


@public(method=True)
def bincount(x, weights=None, minlength=0):
    x = as_tensor(x)
    w = None if weights is None else as_tensor(weights)._data
    r = np.bincount(x._data, weights=w, minlength=minlength)
    return _wrap(_np(r, dtype=np.int64 if w is None else w.dtype))


# ---- shapes ---------------------------------------------------------------------------------------
def _split_sizes(n, sizes):
    if isinstance(sizes, (int, np.integer)):
        if sizes <= 0:
            raise ValueError(f"split: split_size must be positive, got {sizes}")
        return [builtins.min(sizes, n - i) for i in range(0, n, sizes)] or [0]
    sizes = list(sizes)
    if builtins.sum(sizes) != n:
        raise ValueError(f"split: split sizes {sizes} do not sum to the dimension's size {n}")
    return sizes


@public(method=True)
def split(x, split_size_or_sections, dim=0):
    x = as_tensor(x)
    d = S._norm_dim("split", dim, x.ndim)
    out, lo = [], 0
    for s in _split_sizes(x.shape[d], split_size_or_sections):
        sl = [slice(None)] * x.ndim
        sl[d] = slice(lo, lo + s)
        out.append(S.getitem(x, tuple(sl)))
        lo += s
    return tuple(out)


@public(method=True)
def chunk(x, chunks, dim=0):
    x = as_tensor(x)
    d = S._norm_dim("chunk", dim, x.ndim)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[d]
    return split(x, builtins.max(1, -(-n // chunks)), d)


@public(method=True)
def unbind(x, dim=0):
    x = as_tensor(x)
    d = S._norm_dim("unbind", dim, x.ndim)
    return tuple(S.squeeze(t, d) for t in split(x, 1, d))


@public(method=True)
def narrow(x, dim, start, length):
    x = as_tensor(x)
    d = S._norm_dim("narrow", dim, x.ndim)
    sl = [slice(None)] * x.ndim
    sl[d] = slice(start, start + length)
    return S.getitem(x, tuple(sl))


@public(method=True)
def repeat(x, *sizes):
    """Tile x: repeat(2, 3) doubles dim -2 and triples dim -1 (torch's Tensor.repeat)."""
    x = as_tensor(x)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than "
                         f"the number of tensor dims ({x.ndim})")
    xs = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    xe = S.reshape(x, tuple(v for s in xs for v in (1, s)))
    big = S.expand(xe, tuple(v for r, s in zip(sizes, xs) for v in (r, s)))
    return S.reshape(big, tuple(r * s for r, s in zip(sizes, xs)))


@public(method=True)
def tile(x, dims):
    x = as_tensor(x)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    dims = (1,) * (x.ndim - len(dims)) + dims
    return repeat(x, dims)


@public(method=True)
def repeat_interleave(x, repeats, dim=None):
    x = as_tensor(x)
    if dim is None:
        x, dim = S.reshape(x, (-1,)), 0
    d = S._norm_dim("repeat_interleave", dim, x.ndim)
    r = repeats._data if isinstance(repeats, Tensor) else repeats
    idx = np.repeat(np.arange(x.shape[d]), r)
    from .scan import index_select
    return index_select(x, d, _wrap(_np(idx, dtype=np.int64)))


@public(method=True)
def flip(x, dims):
    x = as_tensor(x)
    dims = (dims,) if isinstance(dims, int) else dims
    sl = [slice(None)] * x.ndim
    for d in dims:
        sl[S._norm_dim("flip", d, x.ndim)] = slice(None, None, -1)
    return S.getitem(x, tuple(sl))


@public(method=True)
def fliplr(x):
    return flip(x, 1)


@public(method=True)
def flipud(x):
    return flip(x, 0)


@public(method=True)
def roll(x, shifts, dims=None):
    x = as_tensor(x)
    if dims is None:
        return S.reshape(roll(S.reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    for s, d in zip(shifts, dims):
        d = S._norm_dim("roll", d, x.ndim)
        n = x.shape[d]
        if n == 0:
            continue
        s %= n
        if s:
            a, b = split(x, [n - s, s], d)
            x = S.cat([b, a], d)
    return x


def _tri_mask(shape, diagonal, lower):
    r, c = shape[-2], shape[-1]
    m = np.tri(r, c, diagonal, dtype=bool) if lower else ~np.tri(r, c, diagonal - 1, dtype=bool)
    return _wrap(_np(m))


@public(method=True)
def tril(x, diagonal=0):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"tril: input tensor must have at least 2 dimensions, got {x.ndim}")
    return masked_fill(x, _wrap(~_tri_mask(x.shape, diagonal, True)._data), 0)


@public(method=True)
def triu(x, diagonal=0):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"triu: input tensor must have at least 2 dimensions, got {x.ndim}")
    return masked_fill(x, _wrap(~_tri_mask(x.shape, diagonal, False)._data), 0)


@public(method=True)
def diag(x, diagonal=0):
    """1-D -> a square matrix with x on the diagonal; 2-D -> its diagonal."""
    x = as_tensor(x)
    if x.ndim == 1:
        n = x.shape[0] + builtins.abs(diagonal)
        from ..tensor import zeros
        z = zeros(n * n, dtype=x.dtype)
        k = np.arange(x.shape[0])
        rows, cols = (k, k + diagonal) if diagonal >= 0 else (k - diagonal, k)
        idx = _wrap(_np(rows * n + cols, dtype=np.int64))
        from .scan import scatter
        return S.reshape(scatter(z, 0, idx, x), (n, n))
    if x.ndim == 2:
        return diagonal_(x, diagonal)
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got {x.ndim}-D")


def diagonal_(x, offset=0, dim1=0, dim2=1):
    x = as_tensor(x)
    r, c = x.shape[dim1], x.shape[dim2]
    k = np.arange(builtins.max(0, builtins.min(r - builtins.max(0, -offset),
                                               c - builtins.max(0, offset))))
    rows, cols = k + builtins.max(0, -offset), k + builtins.max(0, offset)
    if x.ndim != 2 or (dim1, dim2) != (0, 1):
        raise NotImplementedError("diagonal: only the main 2-D form (dim1=0, dim2=1)")
    flat = _wrap(_np(rows * c + cols, dtype=np.int64))
    return S.getitem(S.reshape(x, (-1,)), flat)


def diagonal(x, offset=0, dim1=0, dim2=1):
    return diagonal_(x, offset, dim1, dim2)


public(diagonal, method=True)


@public(method=True)
def trace(x):
    return R.sum(diagonal_(x))


@public(method=True, aliases=("ger",))
def outer(a, b):
    a, b = as_tensor(a), as_tensor(b)
    return E.mul(S.reshape(a, (-1, 1)), S.reshape(b, (1, -1)))


@public()
def einsum(equation, *operands):
    """Contractions written as transposes, broadcast products, sums and matmuls: 'ij,jk->ik',
    'bij,bjk->bik', 'i,i->', 'ij->ji', 'ii->i' excluded (no repeated index in one operand)."""
    from .matmul import matmul
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = [as_tensor(o) for o in operands]
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise NotImplementedError("einsum: '...' is not supported; name the dims")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:
        lhs = eq
        counts = {}
        for ch in lhs.replace(",", ""):
            counts[ch] = counts.get(ch, 0) + 1
        out = "".join(sorted(ch for ch, n in counts.items() if n == 1))
    ins = lhs.split(",")
    if len(ins) != len(ops):
        raise ValueError(f"einsum: {len(ins)} operand specs for {len(ops)} operands")
    for spec, t in zip(ins, ops):
        if len(spec) != t.ndim:
            raise ValueError(f"einsum: operand spec {spec!r} does not match a {t.ndim}-D tensor")
        if len(set(spec)) != len(spec):
            raise NotImplementedError(f"einsum: repeated index in {spec!r} (diagonals) is not "
                                      "supported; use gc.diagonal")
    # Two operands with a contraction and matching batch letters: one matmul.
    if len(ops) == 2:
        a, b = ins
        sa, sb, so = set(a), set(b), set(out)
        batch = [ch for ch in a if ch in sb and ch in so]
        contr = [ch for ch in a if ch in sb and ch not in so]
        fa = [ch for ch in a if ch not in sb and ch in so]
        fb = [ch for ch in b if ch not in sa and ch in so]
        only = [ch for ch in a if ch not in sb and ch not in so] + \
            [ch for ch in b if ch not in sa and ch not in so]
        if contr and not only:
            dims = {ch: n for spec, t in zip(ins, ops) for ch, n in zip(spec, t.shape)}
            A = S.permute(ops[0], [a.index(ch) for ch in batch + fa + contr])
            B = S.permute(ops[1], [b.index(ch) for ch in batch + contr + fb])
            nb = [dims[ch] for ch in batch]
            m = int(np.prod([dims[ch] for ch in fa], dtype=np.int64))
            k = int(np.prod([dims[ch] for ch in contr], dtype=np.int64))
            n = int(np.prod([dims[ch] for ch in fb], dtype=np.int64))
            C = matmul(S.reshape(A, tuple(nb) + (m, k)), S.reshape(B, tuple(nb) + (k, n)))
            C = S.reshape(C, tuple(nb) + tuple(dims[ch] for ch in fa + fb))
            order = batch + fa + fb
            return S.permute(C, [order.index(ch) for ch in out]) if order != list(out) else C
    # General: broadcast every operand onto all letters, multiply, sum the contracted ones.
    letters = []
    for spec in ins:
        for ch in spec:
            if ch not in letters:
                letters.append(ch)
    prod_ = None
    for spec, t in zip(ins, ops):
        perm = [spec.index(ch) for ch in letters if ch in spec]
        t = S.permute(t, perm) if perm != list(range(t.ndim)) else t
        shape = []
        it = iter(t.shape)
        for ch in letters:
            shape.append(next(it) if ch in spec else 1)
        t = S.reshape(t, tuple(shape))
        prod_ = t if prod_ is None else E.mul(prod_, t)
    red = tuple(i for i, ch in enumerate(letters) if ch not in out)
    res = R.sum(prod_, red) if red else prod_
    kept = [ch for ch in letters if ch in out]
    perm = [kept.index(ch) for ch in out]
    return S.permute(res, perm) if perm != list(range(len(perm))) else res


_pad = primitive("pad")


@public(function=False, functional=True)
def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """F.pad: pad = (left, right) of the last dim, then (top, bottom) of the one before, ...;
    'constant' mode (negative pads crop); 'reflect'/'replicate'/'circular' are not supported."""
    x = as_tensor(input)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding length {len(pad)} must be even and at most 2 * ndim")
    lo = [0] * x.ndim
    hi = [0] * x.ndim
    for i in range(len(pad) // 2):
        lo[x.ndim - 1 - i], hi[x.ndim - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    crop = tuple(slice(-l if l < 0 else 0, s + h if h < 0 else s)
                 for l, h, s in zip(lo, hi, x.shape))
    if builtins.any(l < 0 or h < 0 for l, h in zip(lo, hi)):
        x = S.getitem(x, crop)
        lo, hi = [builtins.max(0, v) for v in lo], [builtins.max(0, v) for v in hi]
    shape = tuple(s + l + h for s, l, h in zip(x.shape, lo, hi))
    out = _empty(shape, x._data.dtype)
    D.run(K.fill, out, 0.0 if value is None else float(value))
    st = S._c_strides(shape)
    offset = builtins.sum(l * s for l, s in zip(lo, st))
    D.run(K.strided_put, x._data, out, 0, offset, st)
    if x._data.dtype not in _dt.FLOATS:
        return _wrap(out)
    return make(out, _pad, (x,), (x.shape, offset, st))


@_pad.defvjp
def _(g, needs, shape, offset, st):
    return (D.run(K.strided_copy, g, shape, offset, st),)


# ---- creation ----------------------------------------------------------------------------------------
@public()
def eye(n, m=None, dtype=None, device=None, requires_grad=False, **_kw):
    from ..tensor import tensor
    return tensor(np.eye(n, n if m is None else m), dtype=dtype or _dt.get_default_dtype(),
                  device=device, requires_grad=requires_grad)


@public()
def randn_like(x, dtype=None, device=None, requires_grad=False, **_kw):
    from ..tensor import randn
    x = as_tensor(x)
    return randn(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


@public()
def rand_like(x, dtype=None, device=None, requires_grad=False, **_kw):
    from ..tensor import rand
    x = as_tensor(x)
    return rand(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


@public()
def randint_like(x, low=0, high=None, dtype=None, device=None, **_kw):
    from ..tensor import randint
    x = as_tensor(x)
    if high is None:
        low, high = 0, low
    t = randint(low, high, x.shape, device=device)
    d = dtype or x.dtype
    return t if d == _dt.int64 else E.cast(t, _dt.canonical(d))


@public()
def is_tensor(x):
    return isinstance(x, Tensor)


@public()
def numel(x):
    return as_tensor(x).numel()


@public()
def is_floating_point(x):
    return as_tensor(x).dtype in _dt.FLOATS


public(is_floating_point, function=False, method=["is_floating_point"])
