"""Integer-family ops with torch's type promotion: ``//`` (floor_divide), ``%`` (remainder),
``fmod``, ``div(rounding_mode=)``, bitwise ``& | ^ ~ << >>`` and the logical ops.
Kernels: csrc/kernels/pointwise_more.cpp (floordiv, remainder, truncdiv, bitwise).

Promotion (torch's, on gradcore's dtypes bool < int64 < float32 < float64): a Python bool /
int / float scalar takes the tensor's dtype when its kind fits (an int scalar with an int64
tensor stays int64, a float scalar with an int64 tensor gives the default float dtype); a 0-d
tensor acts as a scalar of its kind. int32 and uint8 are not gradcore dtypes.
"""
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
from . import elementwise as E
from .elementwise import broadcast_shape

_RANK = {_dt.bool_: 0, _dt.int64: 1, _dt.float32: 2, _dt.float64: 3}


def _kind(d):
    return 0 if d == _dt.bool_ else 1 if d == _dt.int64 else 2


def _scalar_dtype(v):
    if isinstance(v, (bool, np.bool_)):
        return _dt.bool_
    if isinstance(v, (int, np.integer)):
        return _dt.int64
    return _dt.get_default_dtype()


def result_dtype(a, b):
    """torch.result_type for two operands (Tensors or Python scalars): dimensioned tensors
    decide, unless a 0-d tensor or a scalar is of a higher kind (bool < int < float)."""
    def cat(x):
        return (2 if x._data.ndim else 1) if isinstance(x, Tensor) else 0

    def dt(x):
        return x._data.dtype if isinstance(x, Tensor) else _scalar_dtype(x)
    ca, cb = cat(a), cat(b)
    da, db = dt(a), dt(b)
    if ca == cb:
        return da if _RANK[da] >= _RANK[db] else db
    (hi, dh), (lo, dl) = ((a, da), (b, db)) if ca > cb else ((b, db), (a, da))
    if _kind(dl) > _kind(dh):
        return dl
    return dh


def _pair(op, a, b):
    d = result_dtype(a, b)
    ts = []
    for x in (a, b):
        if isinstance(x, Tensor):
            ts.append(x if x._data.dtype == d else _cast(x, d))
        else:
            ts.append(_wrap(np.asarray(x, dtype=d)))
    shape = broadcast_shape(op, ts[0]._data.shape, ts[1]._data.shape)
    return ts[0], ts[1], shape


def _cast(x, d):
    from .elementwise import cast
    return cast(x, d)


# ---- floor division, remainder, fmod, div(rounding_mode=) ----------------------------------
_floordiv, _truncdiv, _remainder = (primitive("floor_divide"), primitive("trunc_divide"),
                                    primitive("remainder"))
def _zero_grads(g, needs, a, b):  # piecewise constant: zero gradient (as torch)
    z = _empty(g.shape, g.dtype)
    D.run(K.fill, z, 0.0)
    return (z if needs[0] else None, z if needs[1] else None)


_floordiv.defvjp(_zero_grads)
_truncdiv.defvjp(_zero_grads)


@_remainder.defvjp
def _(g, needs, a, b):
    return (g if needs[0] else None,
            D.run(K.remainder_backward_b, g, a, b, g.shape) if needs[1] else None)


def _divmod(prim, kid, op, a, b):
    a, b, shape = _pair(op, a, b)
    y = D.run(kid, a._data, b._data, shape)
    if y.dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, prim, (a, b), (a._data, b._data))


@public(method=True, operators=("__floordiv__",), reflected=("__rfloordiv__",))
def floor_divide(a, b):
    """a // b rounded toward -inf (Python's and torch's rule); integer division by zero raises."""
    _no_bool("floor_divide", a, b)
    return _divmod(_floordiv, K.floordiv, "floor_divide", a, b)


@public(method=True, operators=("__mod__",), reflected=("__rmod__",))
def remainder(a, b):
    """a % b with the sign of b (Python's and torch's rule)."""
    _no_bool("remainder", a, b)
    return _divmod(_remainder, K.remainder, "remainder", a, b)


@public(method=True)
def fmod(a, b):
    """C's fmod: the remainder with the sign of a (floats: a - trunc(a / b) * b)."""
    _no_bool("fmod", a, b)
    a, b, _ = _pair("fmod", a, b)
    if a._data.dtype not in _dt.FLOATS:  # integers: C's % (numpy's fmod), not differentiable
        host_compute("fmod() of integer tensors")
        if np.any(b._data == 0):
            raise ZeroDivisionError("fmod: integer division by zero")
        return _wrap(_np(np.fmod(a._data, b._data)))
    from .elementwise import mul, sub
    return sub(a, mul(_divmod(_truncdiv, K.truncdiv, "fmod", a, b), b))


def _no_bool(op, a, b):
    if all(isinstance(x, (bool, np.bool_)) or isinstance(x, Tensor) and x._data.dtype == _dt.bool_
           for x in (a, b)):
        raise TypeError(f"{op}: not supported on bool tensors; convert with .long() first")


@public(method=True, aliases=("divide", "true_divide"),
        operators=("__truediv__",), reflected=("__rtruediv__",))
def div(a, b, rounding_mode=None):
    """a / b (true division, float result); ``rounding_mode='floor'`` is ``a // b``,
    ``'trunc'`` rounds toward zero (integer dtypes stay integer, as torch)."""
    if rounding_mode is None:
        if type(a) is Tensor and a._data.dtype in _dt.FLOATS:  # nothing to convert
            return E.div(a, b)
        if _int_operands(a, b):
            a, b = [_cast(x, _dt.get_default_dtype()) if isinstance(x, Tensor) else float(x)
                    for x in (a, b)]
        return E.div(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        _no_bool("div", a, b)
        return _divmod(_truncdiv, K.truncdiv, "div", a, b)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                     f"found {rounding_mode!r}")


def _int_operands(a, b):
    return all(not isinstance(x, Tensor) and not isinstance(x, float)
               or isinstance(x, Tensor) and x._data.dtype not in _dt.FLOATS for x in (a, b))


# ---- bitwise and logical ops ---------------------------------------------------------------
def _bitwise(op, code, a, b):
    a, b, shape = _pair(op, a, b)
    if a._data.dtype in _dt.FLOATS:
        raise TypeError(f"{op}: bitwise ops need int64 or bool tensors, got {a._data.dtype} "
                        "(torch raises too); compare with a mask, or convert with .long()")
    return _wrap(D.run(K.bitwise, a._data, b._data, shape, op=code))


@public(method=True, operators=("__and__",), reflected=("__rand__",))
def bitwise_and(a, b):
    return _bitwise("bitwise_and", 0, a, b)


@public(method=True, operators=("__or__",), reflected=("__ror__",))
def bitwise_or(a, b):
    return _bitwise("bitwise_or", 1, a, b)


@public(method=True, operators=("__xor__",), reflected=("__rxor__",))
def bitwise_xor(a, b):
    return _bitwise("bitwise_xor", 2, a, b)


@public(method=True, operators=("__lshift__",), reflected=("__rlshift__",))
def bitwise_left_shift(a, b):
    return _bitwise("bitwise_left_shift", 3, a, b)


@public(method=True, operators=("__rshift__",), reflected=("__rrshift__",))
def bitwise_right_shift(a, b):
    return _bitwise("bitwise_right_shift", 4, a, b)


@public(method=True, operators=("__invert__",))
def bitwise_not(x):
    x = as_tensor(x)
    if x._data.dtype in _dt.FLOATS:
        raise TypeError(f"bitwise_not (~): needs an int64 or bool tensor, got {x._data.dtype}; "
                        "for a mask use ~(x > 0) or gc.logical_not(x)")
    return _wrap(D.run(K.bitwise_not, x._data, x._data.shape))


def _as_bool(x):
    x = as_tensor(x)
    if x._data.dtype == _dt.bool_:
        return x
    return _wrap(D.run(K.cast, x._data, _empty(x._data.shape, _dt.bool_)))


@public(method=True)
def logical_not(x):
    return bitwise_not(_as_bool(x))


@public(method=True)
def logical_and(a, b):
    return bitwise_and(_as_bool(a), _as_bool(b))


@public(method=True)
def logical_or(a, b):
    return bitwise_or(_as_bool(a), _as_bool(b))


@public(method=True)
def logical_xor(a, b):
    return bitwise_xor(_as_bool(a), _as_bool(b))
