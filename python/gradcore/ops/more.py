"""Everyday torch functions: rounding and special functions (math_more kernel), NaN/Inf tests,
reductions (prod, norm, all, any, var_mean, std_mean), comparisons (isclose, allclose),
selection (masked_fill, masked_select, nonzero, where(cond), unique) and creation (eye,
randn_like, rand_like, randint_like); the shape helpers are in more_shape.py. Composites are written in differentiable primitives;
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
from ..compile import host_compute
from ..tensor import Tensor, _empty, _wrap, as_tensor


def _np(a, dtype=None):
    """A C-contiguous array (0-d stays 0-d, unlike np.ascontiguousarray)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else a.copy()
from . import elementwise as E
from . import reduce as R
from . import shape as S

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
    host_compute("sign() of an integer tensor")
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
def rsqrt(x):
    return E.pow(x, -0.5)


@public(method=True)
def square(x):
    return E.pow(x, 2.0)


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
        host_compute("prod() of an integer tensor")
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
    return _bool_reduce("all", np.all, x, dim, keepdim)


@public(method=True)
def any(x, dim=None, keepdim=False):  # noqa: A001
    return _bool_reduce("any", np.any, x, dim, keepdim)


def _bool_reduce(name, fn, x, dim, keepdim):
    host_compute(f"{name}()")
    b = as_tensor(x)._data.astype(bool, copy=False)
    return _wrap(_np(fn(b, axis=dim, keepdims=keepdim and dim is not None)))


@public(method=True)
def var_mean(x, dim=None, unbiased=True, keepdim=False, correction=None):
    return (R.var(x, dim, unbiased, keepdim, correction), R.mean(x, dim, keepdim))


@public(method=True)
def std_mean(x, dim=None, unbiased=True, keepdim=False, correction=None):
    return (R.std(x, dim, unbiased, keepdim, correction), R.mean(x, dim, keepdim))


@public(method=True)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    host_compute("isclose()")
    a, b = as_tensor(a), as_tensor(b)
    return _wrap(_np(np.isclose(a._data, b._data, rtol=rtol, atol=atol,
                                                 equal_nan=equal_nan)))


@public(method=True)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(np.all(isclose(a, b, rtol, atol, equal_nan)._data))


@public(method=True)
def equal(a, b):
    host_compute("equal()")
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
    host_compute("masked_select()")
    mb = np.broadcast_to(mask._data, shape)
    return S.getitem(S.reshape(xb, (-1,)), _wrap(_np(np.flatnonzero(mb))))


@public(method=True)
def nonzero(x, as_tuple=False):
    host_compute("nonzero()")
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
    host_compute("unique()")
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
    host_compute("bincount()")
    x = as_tensor(x)
    w = None if weights is None else as_tensor(weights)._data
    r = np.bincount(x._data, weights=w, minlength=minlength)
    return _wrap(_np(r, dtype=np.int64 if w is None else w.dtype))


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
