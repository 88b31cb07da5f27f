"""Everyday torch shape functions: split, chunk, unbind, narrow, repeat, tile,
repeat_interleave, flip, roll, tril, triu, diag, diagonal, trace, outer, einsum, pad. Composites
of differentiable primitives, plus the pad primitive."""
import builtins

import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor
from . import elementwise as E
from . import reduce as R
from . import shape as S
from .more import _np, masked_fill

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


def _triangle(op, x, diagonal, lower):
    """x with the elements outside the lower (upper) triangle of its last two dims zeroed."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: input tensor must have at least 2 dimensions, got {x.ndim}")
    return masked_fill(x, _wrap(~_tri_mask(x.shape, diagonal, lower)._data), 0)


@public(method=True)
def tril(x, diagonal=0):
    return _triangle("tril", x, diagonal, True)


@public(method=True)
def triu(x, diagonal=0):
    return _triangle("triu", x, diagonal, False)


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
