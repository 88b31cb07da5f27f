"""matmul: 1-D, 2-D and batched with broadcast batch dims, on one gemm kernel
(csrc/kernels/matmul.cpp) that reads transposed operands in place."""
from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, as_tensor
from .elementwise import _float_pair, broadcast_shape
from .shape import expand, reshape

# ---- gemm: C = A @ B on 2-D or 3-D operands (a batch of 1 is shared) ----------------------
# dA = g @ B^T (gemm with transB), dB = A^T @ g (gemm with transA); a shared operand's
# gradient comes back batched and the engine sums it over the batch.
_gemm = primitive("gemm")


def _mm(a, b, shape):
    ad, bd = a._data, b._data
    return make(D.run(K.gemm, ad, bd, shape), _gemm, (a, b), (ad, bd))


@_gemm.defvjp
def _(g, needs, a, b):
    da = db = None
    if needs[0]:
        shape = a.shape if (a.ndim == g.ndim) else g.shape[:1] + a.shape
        da = D.run(K.gemm, g, b, shape, trans_b=1)
    if needs[1]:
        shape = b.shape if (b.ndim == g.ndim) else g.shape[:1] + b.shape
        db = D.run(K.gemm, a, g, shape, trans_a=1)
    return da, db


def _shape_error(a, b, why):
    return ValueError(f"matmul: {a} @ {b}: {why}")


@public(method=True, operators=("__matmul__",), reflected=("__rmatmul__",))
def matmul(a, b):
    """Matrix product with torch's rules for 1-D and batched operands.
    Shapes: (..., M, K) @ (..., K, N) -> (..., M, N) with the batch dims broadcast."""
    a, b = _float_pair("matmul", a, b)
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise _shape_error(sa, sb, "both arguments need at least 1 dimension")
    ka = sa[-1]
    kb = sb[-2] if len(sb) > 1 else sb[0]
    if ka != kb:
        raise _shape_error(sa, sb, f"inner dimensions {ka} and {kb} differ")
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        a = reshape(a, (1, ka))
    if vb:
        b = reshape(b, (kb, 1))
    sa, sb = a.shape, b.shape
    M, N = sa[-2], sb[-1]
    if len(sa) == 2 and len(sb) == 2:
        y = _mm(a, b, (M, N))
        batch = ()
    elif len(sb) == 2:  # (..., M, K) @ (K, N): one big gemm over the folded batch
        batch = sa[:-2]
        rows = 1
        for s in batch:
            rows *= s
        y = _mm(reshape(a, (rows * M, ka)), b, (rows * M, N))
    else:
        try:
            batch = broadcast_shape("matmul", sa[:-2], sb[:-2])
        except ValueError:
            raise _shape_error(sa, sb, f"batch dimensions {sa[:-2]} and {sb[:-2]} do not "
                               "broadcast") from None
        nb = 1
        for s in batch:
            nb *= s
        a3 = a if len(sa) == 2 else reshape(expand(a, batch + sa[-2:]), (nb, M, ka))
        b3 = reshape(expand(b, batch + sb[-2:]), (nb, kb, N))
        y = _mm(a3, b3, (nb, M, N))
    out = batch + ((M,) if not va else ()) + ((N,) if not vb else ())
    return y if y.shape == out else reshape(y, out)


@public(method=True)
def mm(a, b):
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expected 2-D tensors, got {a.shape} and {b.shape}")
    return matmul(a, b)


@public(method=True)
def bmm(a, b):
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expected (B, M, K) and (B, K, N), got {a.shape} and {b.shape}")
    return matmul(a, b)


@public(method=True)
def dot(a, b):
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"dot: expected 1-D tensors, got {a.shape} and {b.shape}")
    return matmul(a, b)
