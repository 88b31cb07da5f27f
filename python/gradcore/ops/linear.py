"""linear: y = x @ W^T + b as one primitive over the gemm kernel (csrc/kernels/matmul.cpp),
which reads W transposed in place, so no transpose copy is made in forward or backward.

    forward:  Y = gemm(X, W, transB) ; Y += b           (X: (M, in) = x's leading dims folded)
    backward: dX = gemm(G, W)  dW = gemm(G, X, transA)  db = sum over rows of G
"""
from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, as_tensor

_linear = primitive("linear")


@public(function=False, functional=True)
def linear(input, weight, bias=None):  # noqa: A002
    """Shapes: input (..., in), weight (out, in), bias (out,) -> (..., out); float32/float64.
    Grad:   dinput = g @ W, dweight = g^T @ input, dbias = g summed over the leading dims."""
    x = input if type(input) is Tensor else as_tensor(input)
    w = weight if type(weight) is Tensor else as_tensor(weight)
    xd, wd = x._data, w._data
    if xd.dtype not in _dt.FLOATS or xd.dtype != wd.dtype:
        raise TypeError(f"linear: input ({xd.dtype}) and weight ({wd.dtype}) must have the same "
                        "float dtype")
    if wd.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got {wd.shape}")
    if xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(f"linear: input {xd.shape} does not fit weight {wd.shape}: the input's "
                         f"last dim must equal in_features={wd.shape[1]}")
    lead, n_out = xd.shape[:-1], wd.shape[0]
    m = 1
    for s in lead:
        m *= s
    x2 = xd.reshape(m, wd.shape[1])
    y = D.run(K.gemm, x2, wd, (m, n_out), trans_b=1)
    inputs = (x, w)
    if bias is not None:
        b = bias if type(bias) is Tensor else as_tensor(bias)
        bd = b._data
        if bd.shape != (n_out,):
            raise ValueError(f"linear: bias must have shape ({n_out},) for weight {wd.shape}, "
                             f"got {bd.shape}")
        if bd.dtype != xd.dtype:
            raise TypeError(f"linear: bias dtype {bd.dtype} differs from input dtype {xd.dtype}")
        D.run(K.add, y, bd, y)  # in place: each element reads only its own position and b
        inputs = (x, w, b)
    return make(y.reshape(lead + (n_out,)), _linear, inputs, (x2, wd, xd.shape))


@_linear.defvjp
def _(g, needs, x2, wd, xshape):
    g2 = g.reshape(x2.shape[0], wd.shape[0])
    dx = D.run(K.gemm, g2, wd, x2.shape).reshape(xshape) if needs[0] else None
    dw = D.run(K.gemm, g2, x2, wd.shape, trans_a=1) if needs[1] else None
    if len(needs) == 2:
        return dx, dw
    db = D.run(K.sum_to, g2, (1, wd.shape[0])).reshape(wd.shape[0]) if needs[2] else None
    return dx, dw, db
