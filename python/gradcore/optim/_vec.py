"""Flat-vector helpers for LBFGS and ConjugateGradient. Every value is computed by a C++
kernel (flat_pack, vaxpby, vdot, vnorm in csrc/kernels/optim.cpp); only scalars come back
to Python as floats."""
import math

from .. import dispatch as D
from ..dispatch import K
from ..tensor import _empty, _wrap, zeros
from .optimizer import _MAX_TENSORS

_GATHER, _SCATTER, _ADD = 0, 1, 2


def _pack(flat, arrays, mode, alpha=1.0):
    """flat_pack over the arrays laid end to end in ``flat`` (a 1-D array), in chunks that
    fit the binding's tensor limit."""
    off = 0
    step = _MAX_TENSORS - 1
    for c in range(0, len(arrays), step):
        chunk = arrays[c:c + step]
        n = sum(a.size for a in chunk)
        D.run(K.flat_pack, flat[off:off + n], *chunk, mode, alpha)
        off += n


def numel(params):
    return sum(p._data.size for p in params)


def gather_grads(params):
    """One flat tensor holding every parameter's gradient (zeros where it is None)."""
    arrays = [p.grad._data if p.grad is not None else zeros(p.shape, dtype=p.dtype)._data
              for p in params]
    flat = _empty((numel(params),), params[0].dtype)
    _pack(flat, arrays, _GATHER)
    return _wrap(flat)


def gather_params(params):
    flat = _empty((numel(params),), params[0].dtype)
    _pack(flat, [p._data for p in params], _GATHER)
    return _wrap(flat)


def set_params_(params, flat):
    """Parameters = slices of ``flat``."""
    _pack(flat._data, [p._data for p in params], _SCATTER)


def add_to_params_(params, alpha, flat):
    """Parameters += alpha * slices of ``flat``."""
    _pack(flat._data, [p._data for p in params], _ADD, alpha)


def axpby_(y, a, x, b=1.0):
    """y = a*x + b*y in place; returns y."""
    D.run(K.vaxpby, y._data, x._data, float(a), float(b))
    return y


def scaled(x, a):
    """A new vector a*x (``scaled(x, 1.0)`` clones, ``scaled(x, -1.0)`` negates)."""
    y = _empty(x.shape, x.dtype)
    D.run(K.vaxpby, y, x._data, float(a), 0.0)
    return _wrap(y)


def copy_(y, x):
    """y = x in place, or a clone of x when y is None; returns y."""
    return scaled(x, 1.0) if y is None else axpby_(y, 1.0, x, 0.0)


def dot(a, b):
    return D.run(K.vdot, a._data, b._data, ()).item()


def amax_abs(x):
    return D.run(K.vnorm, x._data, (), math.inf).item()


def asum(x):
    return D.run(K.vnorm, x._data, (), 1.0).item()


def norm2(x):
    return D.run(K.vnorm, x._data, (), 2.0).item()
