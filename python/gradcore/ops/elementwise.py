"""Elementwise ops with numpy broadcasting: arithmetic, comparisons, where, math, cast.
Kernels: csrc/kernels/elementwise.cpp. Each primitive's forward and vjp sit together."""

import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import make
from .. import _C
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, as_tensor, _wrap

_graph_op = _C.graph_op


_SCALARS = (int, float, bool, np.number, np.bool_)
_F32, _F64 = _dt.float32, _dt.float64


def broadcast_shape(op, a, b):
    """numpy broadcasting of two shapes; the error names the op and both shapes."""
    if a == b:
        return a
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError(f"{op}: shapes {a} and {b} are not broadcastable "
                             f"(dimension {i - n}: {x} vs {y})")
    return tuple(out)


def _float_pair(op, a, b):
    """Convert operands to Tensors of one float dtype (torch's promotion)."""
    a = a if type(a) is Tensor else as_tensor(a)
    b = b if type(b) is Tensor else as_tensor(b)
    da, db = a._data.dtype, b._data.dtype
    if da is not db and da != db:
        d = _dt.promote(da, db)
        if da in _dt.FLOATS and db in _dt.FLOATS and (a._data.ndim == 0) != (b._data.ndim == 0):
            d = db if a._data.ndim == 0 else da  # a 0-d float tensor acts as a scalar (torch)
        if d not in _dt.FLOATS:
            d = _dt.get_default_dtype()
        a = a if da == d else cast(a, d)
        b = b if db == d else cast(b, d)
    elif da not in _dt.FLOATS:
        raise TypeError(f"{op}: arithmetic on {da} tensors is not supported; convert with "
                        ".float() or .double()")
    return a, b


def _check_float(op, x):
    if x._data.dtype not in _dt.FLOATS:
        raise TypeError(f"{op}: expected a float32 or float64 tensor, got {x._data.dtype}")


# ---- cast --------------------------------------------------------------------------------
_cast = primitive("cast")


def _to(self, *args, **kwargs):
    """``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)``, ``t.to(other)`` (as torch;
    devices other than the CPU raise, see gradcore/device.py)."""
    from ..device import parse_to
    d = parse_to(self, args, kwargs)
    return self if d is None else cast(self, d)


@public(function=False, method=[("to", _to), ("float", lambda t: cast(t, _dt.float32)),
                                ("double", lambda t: cast(t, _dt.float64)),
                                ("long", lambda t: cast(t, _dt.int64)),
                                ("int", lambda t: cast(t, _dt.int64)),  # no int32: int64
                                ("bool", lambda t: cast(t, _dt.bool_))])
def cast(x, dtype):
    x = as_tensor(x)
    if x._data.dtype == dtype:
        return x
    y = D.run(K.cast, x._data, _empty(x._data.shape, dtype))
    if dtype not in _dt.FLOATS:
        return _wrap(y)
    return make(y, _cast, (x,), (x._data.dtype,))


@_cast.defvjp
def _(g, needs, dtype):
    return (D.run(K.cast, g, _empty(g.shape, dtype)),)


# ---- integer arithmetic (torch's promotion: int64 op int64 -> int64, bool -> int64) -------
_INTS = (_dt.int64, _dt.bool_)


def _is_int(t):
    return t._data.dtype in _INTS


def _int_scalar(v):
    return isinstance(v, (int, np.integer, np.bool_)) and not isinstance(v, float)


def _int_binary(kid, op, a, b):
    """add/sub/mul/maximum/minimum of int64/bool tensors: int64 kernels, no gradient. Two
    bool operands give bool (torch: add is 'or', mul 'and'); bool - bool is an error."""
    both_bool = a._data.dtype == _dt.bool_ and b._data.dtype == _dt.bool_
    if both_bool and op == "sub":
        raise TypeError("sub: subtraction, the `-` operator, with two bool tensors is not "
                        "supported; use the `^` or logical_xor() operator instead")
    ad, bd = (x._data if x._data.dtype == _dt.int64 else D.run(K.cast, x._data,
              _empty(x._data.shape, _dt.int64)) for x in (a, b))
    shape = ad.shape if ad.shape == bd.shape else broadcast_shape(op, ad.shape, bd.shape)
    y = D.run(kid, ad, bd, shape)
    return _wrap(D.run(K.cast, y, _empty(y.shape, _dt.bool_)) if both_bool else y)


def _scalar_arith(kid, op, t, v, reflected, float_path):
    """tensor (op) Python scalar: an int64/bool tensor with an int scalar stays integer; with a
    float scalar it becomes the default float dtype (torch); float tensors take float_path."""
    t = as_tensor(t)
    if _is_int(t):
        if _int_scalar(v):
            s = _wrap(np.asarray(int(v), dtype=np.int64))
            return _int_binary(kid, op, s, t) if reflected else _int_binary(kid, op, t, s)
        t = cast(t, _dt.get_default_dtype())
    return float_path(t)


# ---- binary arithmetic -------------------------------------------------------------------
def _binary(prim, kid, op, a, b, int_ok=False):
    r = _graph_op(prim, kid, 0, a, b)  # the common case in C (bind/graph.cpp)
    if r is not NotImplemented:
        return r
    if type(a) is Tensor and type(b) is Tensor:
        ad, bd = a._data, b._data
        dt = ad.dtype
        if dt is bd.dtype and (dt is _F32 or dt is _F64):
            shape = ad.shape if ad.shape == bd.shape else broadcast_shape(op, ad.shape, bd.shape)
            return make(D.run(kid, ad, bd, shape), prim, (a, b), (ad, bd))
    if int_ok:
        a = a if type(a) is Tensor else as_tensor(a)
        b = b if type(b) is Tensor else as_tensor(b)
        if _is_int(a) and _is_int(b):
            return _int_binary(kid, op, a, b)
    a, b = _float_pair(op, a, b)
    ad, bd = a._data, b._data
    shape = ad.shape if ad.shape == bd.shape else broadcast_shape(op, ad.shape, bd.shape)
    return make(D.run(kid, ad, bd, shape), prim, (a, b), (ad, bd))


_add, _sub, _mul, _div = primitive("add"), primitive("sub"), primitive("mul"), primitive("div")
_pow, _maximum, _minimum = primitive("pow"), primitive("maximum"), primitive("minimum")


_add.defvjp_table(True, True)


_sub.defvjp_table(True, (K.affine, -1.0, 0.0))  # g, -g


_mul.defvjp_table((K.mul, 1), (K.mul, 0))  # g*b, g*a


_div.defvjp_table((K.div, 1), (K.div_backward_b, 0, 1))  # g/b, -g*a/b^2


@_pow.defvjp
def _(g, needs, a, b):
    return (D.run(K.pow_backward_a, g, a, b, g.shape) if needs[0] else None,
            D.run(K.pow_backward_b, g, a, b, g.shape) if needs[1] else None)


@_maximum.defvjp
def _(g, needs, a, b):
    return (D.run(K.maximum_backward_a, g, a, b, g.shape) if needs[0] else None,
            D.run(K.maximum_backward_a, g, b, a, g.shape) if needs[1] else None)


@_minimum.defvjp
def _(g, needs, a, b):
    return (D.run(K.minimum_backward_a, g, a, b, g.shape) if needs[0] else None,
            D.run(K.minimum_backward_a, g, b, a, g.shape) if needs[1] else None)


# ---- scalar forms: y = x*alpha + beta, y = c / x, y = x ** p -------------------------------
_affine, _rdiv, _pow_scalar = primitive("affine"), primitive("rdiv"), primitive("pow_scalar")


def affine(x, alpha, beta, op="affine"):
    _check_float(op, x)
    return make(D.run(K.affine, x._data, x._data.shape, alpha, beta), _affine, (x,),
                ((float(alpha), 0.0),))


_affine.defvjp_table((K.affine,), attrs=0)  # affine(g, alpha, 0): dx = alpha g


def _rdiv_scalar(c, x):
    _check_float("div", x)
    y = D.run(K.rdiv, x._data, x._data.shape, c)
    return make(y, _rdiv, (x,), (x._data, y))


@_rdiv.defvjp
def _(g, needs, x, y):
    return (D.run(K.rdiv_backward, g, x, y, g.shape),)


def _pow_by_scalar(x, p):
    _check_float("pow", x)
    return make(D.run(K.pow_scalar, x._data, x._data.shape, p), _pow_scalar, (x,), (x._data, p))


@_pow_scalar.defvjp
def _(g, needs, x, p):
    return (D.run(K.pow_scalar_backward, g, x, g.shape, p),)


@public(method=True, operators=("__add__",), reflected=("__radd__",))
def add(a, b, alpha=1):
    # The common cases in C (bind/graph.cpp): tensor + tensor, tensor + number (affine). The
    # types are tested inline: each helper call would add a Python frame to every op.
    ta, tb = type(a), type(b)
    if alpha == 1:
        if ta is Tensor:
            r = (_graph_op(_add, K.add, 0, a, b) if tb is Tensor else
                 _graph_op(_affine, K.affine, 5, a, 1.0, b) if tb is float or tb is int else
                 NotImplemented)
            if r is not NotImplemented:
                return r
            if tb is Tensor:
                return _binary(_add, K.add, "add", a, b, True)
        elif tb is Tensor and (ta is float or ta is int):
            r = _graph_op(_affine, K.affine, 5, b, 1.0, a)
            if r is not NotImplemented:
                return r
    if alpha != 1:
        b = mul(b, alpha)
    if isinstance(b, _SCALARS):
        return _scalar_arith(K.add, "add", a, b, False, lambda t: affine(t, 1.0, float(b), "add"))
    if isinstance(a, _SCALARS):
        return _scalar_arith(K.add, "add", b, a, True, lambda t: affine(t, 1.0, float(a), "add"))
    return _binary(_add, K.add, "add", a, b, int_ok=True)


@public(method=True, aliases=("subtract",), operators=("__sub__",), reflected=("__rsub__",))
def sub(a, b, alpha=1):
    ta, tb = type(a), type(b)   # the common cases in C, as add
    if alpha == 1:
        if ta is Tensor:
            r = (_graph_op(_sub, K.sub, 0, a, b) if tb is Tensor else
                 _graph_op(_affine, K.affine, 5, a, 1.0, -b) if tb is float or tb is int else
                 NotImplemented)
            if r is not NotImplemented:
                return r
            if tb is Tensor:
                return _binary(_sub, K.sub, "sub", a, b, True)
        elif tb is Tensor and (ta is float or ta is int):
            r = _graph_op(_affine, K.affine, 5, b, -1.0, a)
            if r is not NotImplemented:
                return r
    if alpha != 1:
        b = mul(b, alpha)
    if isinstance(b, _SCALARS):
        return _scalar_arith(K.sub, "sub", a, b, False, lambda t: affine(t, 1.0, -float(b), "sub"))
    if isinstance(a, _SCALARS):
        return _scalar_arith(K.sub, "sub", b, a, True, lambda t: affine(t, -1.0, float(a), "sub"))
    return _binary(_sub, K.sub, "sub", a, b, int_ok=True)


@public(method=True, aliases=("multiply",), operators=("__mul__",), reflected=("__rmul__",))
def mul(a, b):
    ta, tb = type(a), type(b)   # the common cases in C, as add
    if ta is Tensor:
        r = (_graph_op(_mul, K.mul, 0, a, b) if tb is Tensor else
             _graph_op(_affine, K.affine, 5, a, b, 0.0) if tb is float or tb is int else
             NotImplemented)
        if r is not NotImplemented:
            return r
        if tb is Tensor:
            return _binary(_mul, K.mul, "mul", a, b, True)
    elif tb is Tensor and (ta is float or ta is int):
        r = _graph_op(_affine, K.affine, 5, b, a, 0.0)
        if r is not NotImplemented:
            return r
    if isinstance(b, _SCALARS):
        return _scalar_arith(K.mul, "mul", a, b, False, lambda t: affine(t, float(b), 0.0, "mul"))
    if isinstance(a, _SCALARS):
        return _scalar_arith(K.mul, "mul", b, a, True, lambda t: affine(t, float(a), 0.0, "mul"))
    return _binary(_mul, K.mul, "mul", a, b, int_ok=True)


@public(method=True, aliases=("divide",), operators=("__truediv__",), reflected=("__rtruediv__",))
def div(a, b):
    if type(a) is Tensor:   # the common cases in C, as add
        tb = type(b)
        r = (_graph_op(_div, K.div, 0, a, b) if tb is Tensor else
             _graph_op(_affine, K.affine, 5, a, 1.0 / b, 0.0)
             if (tb is float or tb is int) and b != 0 else NotImplemented)
        if r is not NotImplemented:
            return r
    # true division: integer operands become the default float dtype (torch)
    if not isinstance(a, _SCALARS) and _is_int(as_tensor(a)):
        a = cast(as_tensor(a), _dt.get_default_dtype())
    if not isinstance(b, _SCALARS) and _is_int(as_tensor(b)):
        b = cast(as_tensor(b), _dt.get_default_dtype())
    if isinstance(b, _SCALARS) and b != 0:
        return affine(as_tensor(a), 1.0 / float(b), 0.0, "div")
    if isinstance(b, _SCALARS):  # x / 0 gives ±inf or nan, as torch
        return _binary(_div, K.div, "div", a, _scalar_like(a, b))
    if isinstance(a, _SCALARS):
        return _rdiv_scalar(float(a), as_tensor(b))
    return _binary(_div, K.div, "div", a, b)


def _scalar_like(t, v):
    t = as_tensor(t)
    if t._data.dtype in _INTS and _int_scalar(v):  # stays integer (maximum(y, 2))
        return _wrap(np.asarray(int(v), dtype=np.int64))
    d = t._data.dtype if t._data.dtype in _dt.FLOATS else _dt.get_default_dtype()
    return _wrap(np.asarray(v, dtype=d))


@public(method=True, operators=("__pow__",), reflected=("__rpow__",))
def pow(a, b):  # noqa: A001
    ta = None if isinstance(a, _SCALARS) else as_tensor(a)
    tb = None if isinstance(b, _SCALARS) else as_tensor(b)
    if (ta is None or _is_int(ta)) and (tb is None or _is_int(tb)) and \
            (ta is not None or tb is not None) and \
            (ta is not None or _int_scalar(a)) and (tb is not None or _int_scalar(b)):
        return _int_pow(a if ta is None else ta, b if tb is None else tb)
    if ta is not None and _is_int(ta):
        ta = cast(ta, _dt.get_default_dtype())
    if tb is not None and _is_int(tb):
        tb = cast(tb, _dt.get_default_dtype())
    a, b = (a if ta is None else ta), (b if tb is None else tb)
    if isinstance(b, _SCALARS):
        return _pow_by_scalar(a, float(b))
    if isinstance(a, _SCALARS):
        return _binary(_pow, K.pow, "pow", _scalar_like(b, float(a)), b)
    return _binary(_pow, K.pow, "pow", a, b)


def _int_pow(a, b):
    """int64 ** int64 (torch): computed in float64 (exact below 2^53), then truncated."""
    f = [cast(v, _dt.float64) if isinstance(v, Tensor) else float(v) for v in (a, b)]
    if isinstance(f[1], float) and isinstance(b, _SCALARS) and int(b) < 0:
        raise RuntimeError("pow: integers to negative integer powers are not allowed")
    r = pow(*f) if isinstance(f[0], Tensor) or isinstance(f[1], Tensor) else None
    return cast(r.detach(), _dt.int64)


@public(method=True)
def maximum(a, b):
    if isinstance(b, _SCALARS):
        b = _scalar_like(a, b)
    return _binary(_maximum, K.maximum, "maximum", a, b, int_ok=True)


@public(method=True)
def minimum(a, b):
    if isinstance(b, _SCALARS):
        b = _scalar_like(a, b)
    return _binary(_minimum, K.minimum, "minimum", a, b, int_ok=True)


@public(method=True, operators=("__neg__",))
def neg(x):
    r = _graph_op(_affine, K.affine, 5, x, -1.0, 0.0)  # a float tensor, in C
    if r is not NotImplemented:
        return r
    x = as_tensor(x)
    if x._data.dtype == _dt.bool_:
        raise TypeError("neg: negation, the `-` operator, on a bool tensor is not supported; "
                        "use the `~` or logical_not() operator instead")
    if _is_int(x):
        return mul(x, -1)
    return affine(x, -1.0, 0.0, "neg")


# ---- comparisons: non-differentiable bool tensors -------------------------------------------
def _compare(kid, op, a, b):
    a = as_tensor(a)
    if isinstance(b, _SCALARS):
        b = _wrap(np.asarray(b, dtype=a._data.dtype if a._data.dtype != _dt.bool_ else
                             np.asarray(b).dtype))
    b = as_tensor(b)
    ad, bd = a._data, b._data
    if ad.dtype != bd.dtype:
        d = _dt.promote(ad.dtype, bd.dtype)
        ad = ad if ad.dtype == d else D.run(K.cast, ad, _empty(ad.shape, d))
        bd = bd if bd.dtype == d else D.run(K.cast, bd, _empty(bd.shape, d))
    shape = ad.shape if ad.shape == bd.shape else broadcast_shape(op, ad.shape, bd.shape)
    return _wrap(D.run(kid, ad, bd, shape))


@public(method=True, operators=("__lt__",))
def lt(a, b): return _compare(K.lt, "lt", a, b)          # noqa: E704
@public(method=True, operators=("__le__",))
def le(a, b): return _compare(K.le, "le", a, b)          # noqa: E704
@public(method=True, operators=("__gt__",))
def gt(a, b): return _compare(K.gt, "gt", a, b)          # noqa: E704
@public(method=True, operators=("__ge__",))
def ge(a, b): return _compare(K.ge, "ge", a, b)          # noqa: E704
@public(method=True, operators=("__eq__",))
def eq(a, b): return _compare(K.eq, "eq", a, b)          # noqa: E704
@public(method=True, operators=("__ne__",))
def ne(a, b): return _compare(K.ne, "ne", a, b)          # noqa: E704


# ---- where ---------------------------------------------------------------------------------
_where = primitive("where")


@public(method=[("where", lambda self, cond, other: where(cond, self, other))])
def where(cond, a, b):
    cond = as_tensor(cond)
    if cond._data.dtype != _dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond._data.dtype}")
    if isinstance(a, _SCALARS):
        a = _where_scalar(b, a)
    if isinstance(b, _SCALARS):
        b = _where_scalar(a, b)
    a, b = as_tensor(a), as_tensor(b)
    exact = a._data.dtype == b._data.dtype and a._data.dtype not in _dt.FLOATS
    if not exact:
        a, b = _float_pair("where", a, b)
    cd, ad, bd = cond._data, a._data, b._data
    shape = broadcast_shape("where", broadcast_shape("where", cd.shape, ad.shape), bd.shape)
    # The output is passed allocated: a shape tuple would get the condition's dtype (bool).
    y = D.run(K.where, cd, ad, bd, shape)
    return _wrap(y) if exact else make(y, _where, (a, b), (cd,))


def _where_scalar(t, v):
    """A Python scalar for where: int64/bool when it matches an int64/bool tensor (any dtype
    selects, as torch), else the float dtype of the other operand."""
    d = as_tensor(t)._data.dtype
    if d not in _dt.FLOATS and np.asarray(v).dtype.kind == d.kind:
        return _wrap(np.asarray(v, dtype=d))
    return _scalar_like(t, v)


@_where.defvjp
def _(g, needs, cond):
    return (D.run(K.where_grad, cond, g, g.shape, side=1) if needs[0] else None,
            D.run(K.where_grad, cond, g, g.shape, side=0) if needs[1] else None)


# ---- math functions ----------------------------------------------------------------------
def _unary_prim(name, save_output):
    """Forward for a one-input kernel `name`; vjp defined below with what it saved."""
    prim = primitive(name)
    kid = getattr(K, name)

    save = 3 if save_output else 4  # graph_op's codes for (y,) and (x,)

    def fwd(x):
        r = _graph_op(prim, kid, save, x)  # the common case in C (bind/graph.cpp)
        if r is not NotImplemented:
            return r
        x = x if type(x) is Tensor else as_tensor(x)
        _check_float(name, x)
        xd = x._data
        y = D.run(kid, xd, xd.shape)
        return make(y, prim, (x,), (y if save_output else xd,))

    fwd.__name__ = name
    public(fwd, method=True, operators=("__abs__",) if name == "abs" else ())
    return prim, fwd


_exp, exp = _unary_prim("exp", True)
_log, log = _unary_prim("log", False)
_sqrt, sqrt = _unary_prim("sqrt", True)
_abs, abs = _unary_prim("abs", False)  # noqa: A001
_sin, sin = _unary_prim("sin", False)
_cos, cos = _unary_prim("cos", False)

_exp.defvjp_table((K.mul, 0))             # dx = g*y
_log.defvjp_table((K.div, 0))             # dx = g/x
_sqrt.defvjp_table((K.sqrt_backward, 0))  # dx = g/(2y)
_abs.defvjp_table((K.abs_backward, 0))    # dx = g*sign(x)
_sin.defvjp_table((K.sin_backward, 0))    # dx = g*cos(x)
_cos.defvjp_table((K.cos_backward, 0))    # dx = -g*sin(x)

# rsqrt and square are in ops/more.py; the in-place twins (add_, x += y, clamp_, ...) in
# ops/inplace.py.
