"""One row per op of API.md's "Tensors and autograd" table: (name, fn, numpy reference, input
cases, value domain), plus the kink points where finite differences are invalid and the
analytic gradient must equal torch's convention instead. Used by tests/test_ops.py.

A case is C(*shapes, **kwargs): fn(*inputs, **kwargs) is compared with ref(*arrays, **kwargs).
Every row has a broadcast case where meaningful, a size-0 or size-1 case, and (test_ops does
this for every case with a >=2-d input) a non-contiguous Fortran-ordered numpy input.
"""
import warnings
from typing import Callable, NamedTuple

import numpy as np

import gradcore as gc


class C(NamedTuple):
    shapes: tuple
    kw: dict


def c(*shapes, **kw):
    return C(shapes, kw)


class Kink(NamedTuple):
    inputs: tuple   # float64 arrays (differentiable) or bool arrays
    kw: dict
    grads: tuple    # expected d sum(out) / d input, torch's convention at the kink


class Row(NamedTuple):
    name: str
    fn: Callable
    ref: Callable
    cases: list
    domain: object = None     # sampler or tuple of samplers (one per input); None: U(-2, 2)
    kinks: tuple = ()
    np_in: bool = False       # fn accepts raw (non-contiguous) numpy arrays: gc.X functions
    tol32: float = 1e-5       # float32 forward tolerance (rtol = atol)


# ---- samplers: fn(rng, shape) -> float64 array ---------------------------------------------
def U(lo=-2.0, hi=2.0):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away(points=(0.0,), lo=-2.0, hi=2.0, gap=0.1):
    """Uniform in [lo, hi] but at least `gap` from every kink point (finite differences hold)."""
    def f(rng, shape):
        x = rng.uniform(lo, hi, shape)
        for p in points:
            near = np.abs(x - p) < gap
            x[near] = p + np.where(x[near] >= p, gap, -gap) * 1.5
        return x
    return f


def BOOL(rng, shape):
    return rng.random(shape) < 0.5


def _a(*v):
    return np.array(v, dtype=np.float64)


# ---- numpy references --------------------------------------------------------------------
def _ax(dim):
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


def _quiet(f, *a, **kw):
    """numpy's answer without its warnings (mean of an empty slice is nan, as torch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*a, **kw)


def np_softmax(x, dim):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True, initial=-np.inf))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    return x - np_logsumexp(x, dim, keepdim=True)


def np_logsumexp(x, dim=None, keepdim=False):
    m = np.max(x, axis=_ax(dim), keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        y = np.log(np.sum(np.exp(x - m), axis=_ax(dim), keepdims=True)) + m
    return y if keepdim else np.squeeze(y, axis=_ax(dim) if dim is not None else None)


def np_gelu(x, approximate="none"):
    from math import erf
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + np.vectorize(erf, otypes=[np.float64])(x / np.sqrt(2)))


def np_expand(x, shape):
    lead = len(shape) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape)))


def np_var(x, dim=None, unbiased=True, keepdim=False):
    return np.var(x, axis=_ax(dim), ddof=1 if unbiased else 0, keepdims=keepdim)


def np_flatten(x, start_dim=0, end_dim=-1):
    s, e = start_dim % max(x.ndim, 1), end_dim % max(x.ndim, 1)
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:]) if x.ndim else x.reshape(1)


def np_squeeze(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=dim) if x.shape[dim] == 1 else x


IDX = np.array([2, 0, 2, -1])  # a gather with a repeat (gradients add) and a negative index

BINARY_CASES = [c((3, 4), (3, 4)), c((3, 4), (4,)), c((2, 1, 4), (3, 1)), c((), (2, 3)),
                c((0, 4), (1, 4)), c((1,), (1,))]
UNARY_CASES = [c((3, 4)), c((2, 3, 2)), c(()), c((0, 3)), c((1,))]
RED_CASES = [c((3, 4)), c((3, 4), dim=1), c((2, 3, 4), dim=(0, 2), keepdim=True),
             c((2, 3, 4), dim=-1, keepdim=True), c((1, 5), dim=0), c((0, 3), dim=1)]
EXT_CASES = [c((3, 4)), c((3, 4), dim=1), c((2, 3, 4), dim=(0, 2), keepdim=True),
             c((2, 3, 4), dim=-2), c((1, 5), dim=0), c((1,)), c((0, 3), dim=1)]
SM_CASES = [c((3, 5), dim=-1), c((3, 5), dim=0), c((2, 3, 4), dim=1), c((4,), dim=0),
            c((1, 1), dim=1), c((0, 3), dim=1), c((2, 70), dim=-1)]
MAXDIM_CASES = [c((3, 4), dim=1), c((2, 3, 4), dim=0, keepdim=True), c((1, 5), dim=-1),
                c((0, 3), dim=1)]

# Kink values: relu/abs/leaky_relu at 0 (torch: relu'(0) = 0, abs'(0) = 0, leaky'(0) = slope),
# clamp passes the gradient at its bounds, max/amax ties share the gradient evenly, max(dim)
# routes it to the first maximal index, maximum ties give each side half.
X0 = _a(-1.5, 0.0, 2.0)

ROWS = [
    # ---- operators, and their reflected forms with Python scalars ------------------------
    Row("add", lambda a, b: a + b, np.add, BINARY_CASES),
    Row("sub", lambda a, b: a - b, np.subtract, BINARY_CASES),
    Row("mul", lambda a, b: a * b, np.multiply, BINARY_CASES),
    Row("div", lambda a, b: a / b, np.divide, BINARY_CASES, (U(), away((0.0,), gap=0.3))),
    Row("pow", lambda a, b: a ** b, np.power, BINARY_CASES, (U(0.3, 2.0), U())),
    Row("matmul", lambda a, b: a @ b, np.matmul,
        [c((3, 4), (4, 5)), c((2, 3, 4), (2, 4, 5)), c((2, 3, 4), (4, 5)), c((3, 4), (2, 4, 5)),
         c((1, 3, 4), (2, 4, 2)), c((4,), (4,)), c((4,), (4, 5)), c((3, 4), (4,)),
         c((2, 3, 4), (4,)), c((0, 4), (4, 5)), c((3, 0), (0, 5)), c((1, 1), (1, 1))],
        tol32=1e-4),
    Row("neg", lambda a: -a, np.negative, UNARY_CASES),
    Row("radd", lambda a: 2.5 + a, lambda a: 2.5 + a, UNARY_CASES),
    Row("rsub", lambda a: 2.5 - a, lambda a: 2.5 - a, UNARY_CASES),
    Row("rmul", lambda a: 2.5 * a, lambda a: 2.5 * a, UNARY_CASES),
    Row("rdiv", lambda a: 2.5 / a, lambda a: 2.5 / a, UNARY_CASES, away((0.0,), gap=0.3)),
    Row("rpow", lambda a: 2.5 ** a, lambda a: 2.5 ** a, UNARY_CASES),
    Row("add_scalar", lambda a: a + 3, lambda a: a + 3, UNARY_CASES),
    Row("sub_scalar", lambda a: a - 1.5, lambda a: a - 1.5, UNARY_CASES),
    Row("mul_scalar", lambda a: a * -2, lambda a: a * -2, UNARY_CASES),
    Row("div_scalar", lambda a: a / 4.0, lambda a: a / 4.0, UNARY_CASES),
    Row("pow_scalar", lambda a, p: a ** p, lambda a, p: a ** p,
        [c((3, 4), p=2), c((2, 3), p=3.0), c((3,), p=-1.5), c((0, 2), p=0.5), c((1,), p=0)],
        U(0.3, 2.0)),
    # ---- math functions ---------------------------------------------------------------------
    Row("exp", gc.exp, np.exp, UNARY_CASES, np_in=True),
    Row("log", gc.log, np.log, UNARY_CASES, U(0.2, 3.0), np_in=True),
    Row("sqrt", gc.sqrt, np.sqrt, UNARY_CASES, U(0.2, 3.0), np_in=True),
    Row("abs", gc.abs, np.abs, UNARY_CASES, away(), np_in=True,
        kinks=(Kink((X0,), {}, (_a(-1, 0, 1),)),)),
    Row("sin", gc.sin, np.sin, UNARY_CASES, np_in=True),
    Row("cos", gc.cos, np.cos, UNARY_CASES, np_in=True),
    Row("pow_fn", gc.pow, np.power, BINARY_CASES, (U(0.3, 2.0), U()), np_in=True),
    Row("clamp", lambda x, **kw: gc.clamp(x, **kw),
        lambda x, min=None, max=None: np.clip(x, min, max),
        [c((3, 4), min=-0.5, max=0.7), c((2, 3), min=-0.5), c((5,), max=0.7),
         c((0, 2), min=-0.5, max=0.7), c((1,), min=-0.5, max=0.7)],
        away((-0.5, 0.7)), np_in=True,
        kinks=(Kink((_a(-0.5, 0.7, 0.0, 2.0, -3.0),), dict(min=-0.5, max=0.7), (_a(1, 1, 1, 0, 0),)),
               Kink((_a(0.0, 0.5, 2.0),), dict(min=1.0, max=0.0), (_a(0, 0, 0),)))),  # min > max
    Row("maximum", gc.maximum, np.maximum, BINARY_CASES, np_in=True,
        kinks=(Kink((_a(1.0, 2.0, 3.0), _a(1.0, 0.0, 5.0)), {}, (_a(0.5, 1, 0), _a(0.5, 0, 1))),)),
    Row("minimum", gc.minimum, np.minimum, BINARY_CASES, np_in=True,
        kinks=(Kink((_a(1.0, 2.0, 3.0), _a(1.0, 0.0, 5.0)), {}, (_a(0.5, 0, 1), _a(0.5, 1, 0))),)),
    # ---- activations --------------------------------------------------------------------------
    Row("relu", gc.relu, lambda x: np.maximum(x, 0), UNARY_CASES, away(), np_in=True,
        kinks=(Kink((X0,), {}, (_a(0, 0, 1),)),)),
    Row("sigmoid", gc.sigmoid, lambda x: 1 / (1 + np.exp(-x)), UNARY_CASES, U(-6, 6), np_in=True),
    Row("tanh", gc.tanh, np.tanh, UNARY_CASES, np_in=True),
    Row("leaky_relu", lambda x, **kw: gc.leaky_relu(x, **kw),
        lambda x, negative_slope=0.01: np.where(x > 0, x, x * negative_slope),
        UNARY_CASES + [c((3, 2), negative_slope=0.2)], away(), np_in=True,
        kinks=(Kink((X0,), {}, (_a(0.01, 0.01, 1),)),
               Kink((X0,), dict(negative_slope=0.2), (_a(0.2, 0.2, 1),)))),
    Row("gelu", lambda x, **kw: gc.gelu(x, **kw), np_gelu,
        UNARY_CASES + [c((3, 2), approximate="tanh")], U(-4, 4), np_in=True),
    Row("softplus", lambda x, **kw: gc.softplus(x, **kw),
        lambda x, beta=1.0, threshold=20.0: np.where(x * beta > threshold, x,
                                                     np.log1p(np.exp(x * beta)) / beta),
        UNARY_CASES + [c((3, 2), beta=2.0), c((4,), beta=0.5, threshold=1.0)],
        away((2.0,), lo=-4, hi=4, gap=0.2), np_in=True),
    # ---- reductions -------------------------------------------------------------------------
    Row("sum", lambda x, **kw: gc.sum(x, **kw),
        lambda x, dim=None, keepdim=False: np.sum(x, axis=_ax(dim), keepdims=keepdim), RED_CASES,
        np_in=True),
    Row("mean", lambda x, **kw: gc.mean(x, **kw),
        lambda x, dim=None, keepdim=False: _quiet(np.mean, x, axis=_ax(dim), keepdims=keepdim),
        RED_CASES[:-1] + [c((0, 3), dim=0)], np_in=True),
    Row("var", lambda x, **kw: gc.var(x, **kw), np_var,
        [c((3, 4)), c((3, 4), dim=1), c((2, 3, 4), dim=(0, 2), keepdim=True),
         c((3, 4), dim=0, unbiased=False), c((1, 5), dim=1), c((2,), unbiased=False), c((1,), unbiased=False)],
        np_in=True, tol32=1e-4),
    Row("amax", lambda x, **kw: gc.amax(x, **kw),
        lambda x, dim=None, keepdim=False: np.max(x, axis=_ax(dim), keepdims=keepdim), EXT_CASES,
        np_in=True, kinks=(Kink((_a(3, 3, 1).reshape(1, 3),), dict(dim=1), (_a(.5, .5, 0).reshape(1, 3),)),
                           Kink((_a(2, 2, 2, 2),), {}, (_a(.25, .25, .25, .25),)))),
    Row("amin", lambda x, **kw: gc.amin(x, **kw),
        lambda x, dim=None, keepdim=False: np.min(x, axis=_ax(dim), keepdims=keepdim), EXT_CASES,
        np_in=True, kinks=(Kink((_a(1, 3, 1).reshape(1, 3),), dict(dim=1), (_a(.5, 0, .5).reshape(1, 3),)),)),
    Row("max", lambda x: x.max(), np.max, [c((3, 4)), c((2, 3, 2)), c((1,)), c(())],
        kinks=(Kink((_a(1, 3, 3, 0).reshape(2, 2),), {}, (_a(0, .5, .5, 0).reshape(2, 2),)),)),
    Row("min", lambda x: x.min(), np.min, [c((3, 4)), c((2, 3, 2)), c((1,)), c(())],
        kinks=(Kink((_a(1, 3, 1, 2).reshape(2, 2),), {}, (_a(.5, 0, .5, 0).reshape(2, 2),)),)),
    Row("max_dim", lambda x, **kw: gc.max(x, **kw),
        lambda x, dim, keepdim=False: (np.max(x, dim, keepdims=keepdim), np.argmax(x, dim, keepdims=keepdim)),
        MAXDIM_CASES, np_in=True,
        kinks=(Kink((_a(1, 3, 3, 2, 2, 0).reshape(2, 3),), dict(dim=1),
                    (_a(0, 1, 0, 1, 0, 0).reshape(2, 3),)),)),
    Row("min_dim", lambda x, **kw: x.min(**kw),
        lambda x, dim, keepdim=False: (np.min(x, dim, keepdims=keepdim), np.argmin(x, dim, keepdims=keepdim)),
        MAXDIM_CASES,
        kinks=(Kink((_a(1, 0, 0, 2, 2, 5).reshape(2, 3),), dict(dim=1),
                    (_a(0, 1, 0, 1, 0, 0).reshape(2, 3),)),)),
    # ---- softmax family ---------------------------------------------------------------------
    Row("softmax", lambda x, dim: gc.softmax(x, dim), np_softmax, SM_CASES, U(-4, 4), np_in=True),
    Row("log_softmax", lambda x, dim: gc.log_softmax(x, dim), np_log_softmax, SM_CASES, U(-4, 4),
        np_in=True),
    Row("logsumexp", lambda x, **kw: gc.logsumexp(x, **kw), np_logsumexp,
        [c((3, 5), dim=1), c((3, 5), dim=0, keepdim=True), c((2, 3, 4), dim=(0, 2)),
         c((2, 3, 4), dim=(0, 1), keepdim=True), c((3, 4)), c((1, 1), dim=1), c((0, 3), dim=1),
         c((3, 0), dim=1)], U(-4, 4), np_in=True, tol32=1e-5),
    # ---- shape ops ----------------------------------------------------------------------------
    Row("reshape", lambda x, shape: gc.reshape(x, shape), lambda x, shape: x.reshape(shape),
        [c((3, 4), shape=(2, 6)), c((2, 3, 4), shape=(-1, 4)), c((0, 3), shape=(3, 0)),
         c((1,), shape=()), c((), shape=(1, 1))], np_in=True),
    Row("view", lambda x, shape: x.view(*shape), lambda x, shape: x.reshape(shape),
        [c((3, 4), shape=(4, 3)), c((2, 3, 4), shape=(6, -1)), c((1, 1), shape=(1,))]),
    Row("flatten", lambda x, **kw: gc.flatten(x, **kw), np_flatten,
        [c((2, 3, 4)), c((2, 3, 4), start_dim=1), c((2, 3, 4, 2), start_dim=1, end_dim=2),
         c(()), c((0, 3))], np_in=True),
    Row("transpose", lambda x, d0, d1: gc.transpose(x, d0, d1),
        lambda x, d0, d1: np.swapaxes(x, d0, d1),
        [c((3, 4), d0=0, d1=1), c((2, 3, 4), d0=0, d1=-1), c((2, 3, 4), d0=1, d1=1),
         c((0, 3), d0=1, d1=0), c((1, 1), d0=0, d1=1)], np_in=True),
    Row("permute", lambda x, dims: gc.permute(x, dims), lambda x, dims: np.transpose(x, dims),
        [c((2, 3, 4), dims=(2, 0, 1)),
         c((3, 4), dims=(1, 0)), c((2, 1, 0), dims=(1, 2, 0)), c((1,), dims=(0,))], np_in=True),
    Row("T", lambda x: x.T, lambda x: x.T, [c((3, 4)), c((2, 3, 4)), c((5,)), c((0, 2))]),
    Row("unsqueeze", lambda x, dim: gc.unsqueeze(x, dim), lambda x, dim: np.expand_dims(x, dim),
        [c((3, 4), dim=0), c((3, 4), dim=-1), c((3, 4), dim=1), c((), dim=0), c((0,), dim=0)],
        np_in=True),
    Row("squeeze", lambda x, **kw: gc.squeeze(x, **kw), np_squeeze,
        [c((3, 1, 4)), c((1, 3, 1), dim=0), c((1, 3, 1), dim=1), c((1, 1)), c((0, 1), dim=1)],
        np_in=True),
    Row("expand", lambda x, shape: gc.expand(x, shape), np_expand,
        [c((1, 4), shape=(3, 4)), c((3, 1), shape=(2, 3, 5)), c((3, 1), shape=(-1, 4)),
         c((1,), shape=(0,)), c((2, 3), shape=(2, 3))], np_in=True),
    Row("cat", lambda *ts, dim: gc.cat(list(ts), dim), lambda *a, dim: np.concatenate(a, dim),
        [c((2, 3), (4, 3), dim=0), c((2, 3), (2, 1), (2, 2), dim=1), c((2, 3, 4), (2, 3, 1), dim=-1),
         c((0, 3), (2, 3), dim=0), c((1,), (1,), dim=0)], np_in=True),
    Row("stack", lambda *ts, dim: gc.stack(list(ts), dim), lambda *a, dim: np.stack(a, dim),
        [c((2, 3), (2, 3), dim=0), c((2, 3), (2, 3), (2, 3), dim=2), c((3,), (3,), dim=-1),
         c((0, 2), (0, 2), dim=1), c((), (), dim=0)], np_in=True),
    Row("where", lambda m, a, b: gc.where(m, a, b), np.where,
        [c((3, 4), (3, 4), (3, 4)), c((3, 4), (4,), (3, 1)), c((2, 1, 4), (3, 1), ()),
         c((0, 4), (4,), (1, 4)), c((1,), (1,), (1,))], (BOOL, U(), U()), np_in=True),
    # ---- indexing -----------------------------------------------------------------------------
    Row("index_int", lambda x, i: x[i], lambda x, i: x[i],
        [c((4, 3), i=1), c((4, 3), i=-1), c((2, 3, 4), i=0), c((5,), i=2), c((1, 0), i=0)]),
    Row("index_slice", lambda x, a, b: x[a:b], lambda x, a, b: x[a:b],
        [c((5, 3), a=1, b=4), c((5,), a=-3, b=None), c((4, 2, 3), a=0, b=4), c((4, 3), a=2, b=2),
         c((1,), a=0, b=1)]),
    Row("index_col", lambda x, j: x[:, j], lambda x, j: x[:, j],
        [c((4, 3), j=1), c((2, 3, 4), j=-1), c((4, 3), j=slice(0, 3, 2)), c((0, 2), j=1),
         c((1, 1), j=0)]),
    Row("index_array", lambda x, idx: x[idx], lambda x, idx: x[idx],
        [c((4, 3), idx=IDX), c((3,), idx=IDX), c((5, 2, 2), idx=np.array([[0, 4], [4, 1]])),
         c((3, 2), idx=np.zeros(0, np.int64)), c((1,), idx=np.array([0, 0]))]),
    Row("index_misc", lambda x, i: x[i], lambda x, i: x[i],
        [c((3, 4), i=(Ellipsis, 1)), c((3, 4), i=(None, slice(None, None, -1))),
         c((4, 3, 2), i=(slice(None, None, 2), None, 0)), c((4, 3), i=(slice(3, 0, -2), -1)),
         c((3, 4), i=(np.array([0, 2, 2]), np.array([1, 1, 3]))),
         c((4, 2), i=np.array([True, False, True, True])), c((4, 2), i=(np.array([3, 0]), slice(1, 2))),
         c((1, 1), i=(0, 0))]),
    Row("index_tensor", lambda x, idx: x[gc.tensor(idx)], lambda x, idx: x[idx],
        [c((4, 3), idx=IDX), c((1,), idx=np.array([0, 0]))]),
    # ---- comparisons: forward only (non-differentiable bool) --------------------------------
    Row("lt", lambda a, b: a < b, np.less, BINARY_CASES),
    Row("le", lambda a, b: a <= b, np.less_equal, BINARY_CASES),
    Row("gt", lambda a, b: a > b, np.greater, BINARY_CASES),
    Row("ge", lambda a, b: a >= b, np.greater_equal, BINARY_CASES),
    Row("eq", lambda a, b: a == b, np.equal, BINARY_CASES[:1] + BINARY_CASES[4:]),
    Row("ne", lambda a, b: a != b, np.not_equal, BINARY_CASES[:1] + BINARY_CASES[4:]),
]

# API.md's table, with the row(s) covering each name.
API_OPS = {
    "+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul", "unary -": "neg",
    "reflected": "radd rsub rmul rdiv rpow", "exp": "exp", "log": "log", "sqrt": "sqrt",
    "abs": "abs", "sin": "sin", "cos": "cos", "pow": "pow_fn pow_scalar", "clamp": "clamp",
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "leaky_relu": "leaky_relu",
    "gelu": "gelu", "softplus": "softplus", "sum": "sum", "mean": "mean", "amax": "amax",
    "amin": "amin", "var": "var", "softmax": "softmax", "log_softmax": "log_softmax",
    "logsumexp": "logsumexp", "max": "max max_dim", "min": "min min_dim", "reshape": "reshape",
    "view": "view", "flatten": "flatten", "transpose": "transpose", "permute": "permute",
    "T": "T", "unsqueeze": "unsqueeze", "squeeze": "squeeze", "expand": "expand", "cat": "cat",
    "stack": "stack", "where": "where", "t[i]": "index_int", "t[a:b]": "index_slice",
    "t[:, j]": "index_col", "t[int_array]": "index_array index_tensor",
    "comparisons": "lt le gt ge eq ne",
}
