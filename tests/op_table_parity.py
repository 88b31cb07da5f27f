"""Op-table rows for the PyTorch-parity functions (gradcore/ops/more.py, scan.py, integer.py,
inplace.py, autograd_function.py): numpy references, run by tests/test_ops.py like every row
(forward in float32/float64, C and Fortran order, float64 gradcheck, float32-vs-float64 grads).
Functions with only integer or bool outputs (argsort, nonzero, isnan, bitwise ops, ...) are
checked against numpy in tests/test_parity.py."""
import math

import numpy as np

import gradcore as gc
import gradcore.nn.functional as F
from op_table import U, Row, away, c, BOOL


np_erf = np.vectorize(math.erf, otypes=[np.float64])


def INT_IDX(n):
    return lambda rng, shape: rng.integers(0, n, shape).astype(np.int64)


def np_logcumsumexp(x, dim):
    return np.logaddexp.accumulate(x, axis=dim)


def np_cummax(x, dim):
    return np.maximum.accumulate(x, axis=dim)


def np_cummin(x, dim):
    return np.minimum.accumulate(x, axis=dim)


def np_sort(x, dim=-1, descending=False):
    s = np.sort(x, axis=dim, kind="stable")
    return np.flip(s, axis=dim) if descending else s


def np_topk(x, k, dim=-1, largest=True):
    s = np.sort(x, axis=dim)
    s = np.flip(s, axis=dim) if largest else s
    return np.take(s, np.arange(k), axis=dim)


def np_scatter(x, src, dim, idx, add=False):
    out = x.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        if add:
            out[tuple(tgt)] += src[pos]
        else:
            out[tuple(tgt)] = src[pos]
    return out


def np_pad(x, pad, value=0.0):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(x, widths, constant_values=value)


def _setitem(x, v, idx):
    y = x.clone()
    y[idx] = v
    return y


def _np_setitem(x, v, idx):
    y = x.copy()
    y[idx] = v
    return y


def _inplace_chain(x, y):
    z = x * 1.0
    z.add_(y)
    z.mul_(y)
    z += 1.0
    z.exp_()
    return z


class _Cube(gc.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x * x * x * k

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3.0 * ctx.k * x * x, None


class _MulAdd(gc.autograd.Function):  # two inputs, two outputs
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b, a + b

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        return g1 * b + g2, g1 * a + g2


IDX2 = np.array([[0, 2, 1], [1, 0, 0]])          # gather/scatter index for dim 1 of (2, 4)
IDX0 = np.array([[1, 0, 2, 1], [0, 2, 1, 1]])    # for dim 0 of (3, 4)
UNIQUE_IDX = np.array([[0, 2], [1, 3]])          # scatter (assign): no repeated target per column

ROUND_KINKS = tuple(k + 0.5 for k in range(-3, 3))
INTS = tuple(float(k) for k in range(-3, 4))

PARITY_ROWS = [
    Row("log1p", gc.log1p, np.log1p, [c((3, 4)), c((1,)), c((2, 3, 2))], U(-0.8, 2.0)),
    Row("expm1", gc.expm1, np.expm1, [c((3, 4)), c(()), c((0, 2))]),
    Row("erf", gc.erf, np_erf, [c((3, 4)), c(()), c((2, 3, 2))]),
    Row("floor", gc.floor, np.floor, [c((3, 4)), c((1,))], away(INTS)),
    Row("ceil", gc.ceil, np.ceil, [c((3, 4)), c((1,))], away(INTS)),
    Row("round", gc.round, np.round, [c((3, 4)), c((1,)), c((2, 3), decimals=1)],
        away(ROUND_KINKS)),
    Row("trunc", gc.trunc, np.trunc, [c((3, 4)), c((1,))], away(INTS)),
    Row("sign", gc.sign, np.sign, [c((3, 4)), c((1,))], away()),
    Row("nan_to_num", gc.nan_to_num, np.nan_to_num, [c((3, 4)), c(())]),
    Row("cumsum", gc.cumsum, lambda x, dim: np.cumsum(x, dim),
        [c((3, 4), dim=1), c((3, 4), dim=0), c((2, 3, 4), dim=-2), c((1,), dim=0),
         c((0, 3), dim=1)]),
    Row("cumprod", gc.cumprod, lambda x, dim: np.cumprod(x, dim),
        [c((3, 4), dim=1), c((2, 3, 4), dim=0), c((1,), dim=0)], U(-1.5, 1.5)),
    Row("logcumsumexp", gc.logcumsumexp, np_logcumsumexp,
        [c((3, 4), dim=1), c((3, 4), dim=0), c((1,), dim=0)]),
    Row("cummax", lambda x, dim: gc.cummax(x, dim).values, np_cummax,
        [c((3, 5), dim=1), c((4, 3), dim=0), c((1,), dim=0)]),
    Row("cummin", lambda x, dim: gc.cummin(x, dim).values, np_cummin,
        [c((3, 5), dim=1), c((4, 3), dim=0), c((1,), dim=0)]),
    Row("prod", gc.prod, lambda x, dim=None, keepdim=False: np.prod(x, axis=dim, keepdims=keepdim),
        [c((3, 4)), c((3, 4), dim=1), c((2, 3, 2), dim=0, keepdim=True), c((1,)), c((0, 3), dim=0)],
        U(0.5, 1.5)),
    Row("norm", gc.norm, lambda x, p="fro", dim=None, keepdim=False:
        np.sum(np.abs(x) ** (2 if p == "fro" else p), axis=dim, keepdims=keepdim) **
        (1 / (2 if p == "fro" else p)),
        [c((3, 4)), c((3, 4), dim=1), c((3, 4), p=1, dim=0), c((2, 3), p=3, dim=1, keepdim=True),
         c((1,))], away()),
    Row("linalg_norm", lambda x, **kw: gc.linalg.norm(x, **kw),
        lambda x, dim=None: np.sqrt(np.sum(x * x, axis=dim)),
        [c((3, 4)), c((3, 4), dim=-1), c((1,))]),
    Row("var_mean", gc.var_mean, lambda x, dim=None: (np.var(x, axis=dim, ddof=1),
                                                       np.mean(x, axis=dim)),
        [c((3, 4), dim=1), c((4, 3)), c((2, 1), dim=0), c((0, 3), dim=1)]),
    Row("std_mean", gc.std_mean, lambda x, dim=None: (np.std(x, axis=dim, ddof=1),
                                                       np.mean(x, axis=dim)),
        [c((3, 4), dim=1), c((4, 3)), c((2, 1), dim=0), c((0, 3), dim=1)]),
    Row("sort", lambda x, **kw: gc.sort(x, **kw).values, np_sort,
        [c((3, 5)), c((4, 3), dim=0), c((3, 4), descending=True), c((1,))]),
    Row("topk", lambda x, **kw: gc.topk(x, **kw).values, np_topk,
        [c((3, 5), k=2), c((4, 3), k=3, dim=0), c((3, 4), k=1, largest=False), c((1,), k=1)]),
    Row("gather", lambda x, dim, idx: gc.gather(x, dim, gc.tensor(idx)),
        lambda x, dim, idx: np.take_along_axis(x, idx, dim),
        [c((2, 4), dim=1, idx=IDX2), c((3, 4), dim=0, idx=IDX0), c((1,), dim=0, idx=np.array([0]))]),
    Row("scatter", lambda x, s, dim, idx: gc.scatter(x, dim, gc.tensor(idx), s),
        lambda x, s, dim, idx: np_scatter(x, s, dim, idx),
        [c((4, 2), (2, 2), dim=0, idx=UNIQUE_IDX), c((2, 4), (2, 3), dim=1, idx=IDX2[:, :2].copy()),
         c((1,), (1,), dim=0, idx=np.array([0]))]),
    Row("scatter_add", lambda x, s, dim, idx: gc.scatter_add(x, dim, gc.tensor(idx), s),
        lambda x, s, dim, idx: np_scatter(x, s, dim, idx, add=True),
        [c((2, 4), (2, 3), dim=1, idx=IDX2), c((3, 4), (2, 4), dim=0, idx=IDX0),
         c((1,), (1,), dim=0, idx=np.array([0]))]),
    Row("index_select", lambda x, dim, idx: gc.index_select(x, dim, gc.tensor(idx)),
        lambda x, dim, idx: np.take(x, idx, axis=dim),
        [c((3, 4), dim=1, idx=np.array([3, 0, 3])), c((3, 4), dim=0, idx=np.array([2, 1])),
         c((1,), dim=0, idx=np.array([0, 0]))]),
    Row("masked_fill", lambda x, m, value: gc.masked_fill(x, m, value),
        lambda x, m, value: np.where(m, value, x),
        [c((3, 4), (3, 4), value=0.5), c((3, 4), (4,), value=-1.0), c((1,), (1,), value=2.0)],
        (U(), BOOL)),
    Row("masked_select", gc.masked_select, lambda x, m: np.broadcast_to(x, np.broadcast(x, m).shape)[
        np.broadcast_to(m, np.broadcast(x, m).shape)],
        [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))], (U(), BOOL)),
    Row("repeat", lambda x, sizes: x.repeat(*sizes), lambda x, sizes: np.tile(x, sizes),
        [c((2, 3), sizes=(2, 1)), c((2, 3), sizes=(1, 2, 2)), c((1,), sizes=(3,))]),
    Row("tile", lambda x, dims: gc.tile(x, dims), lambda x, dims: np.tile(x, dims),
        [c((2, 3), dims=(2,)), c((2, 3), dims=(2, 2)), c((1,), dims=(2,))]),
    Row("flip", gc.flip, lambda x, dims: np.flip(x, dims),
        [c((3, 4), dims=(0,)), c((2, 3, 4), dims=(0, 2)), c((1,), dims=(0,))]),
    Row("roll", gc.roll, lambda x, shifts, dims=None: np.roll(x, shifts, dims),
        [c((3, 4), shifts=1, dims=1), c((3, 4), shifts=(2, -1), dims=(0, 1)), c((3, 4), shifts=5),
         c((1,), shifts=1, dims=0)]),
    Row("tril", gc.tril, lambda x, diagonal=0: np.tril(x, diagonal),
        [c((3, 4)), c((4, 3), diagonal=-1), c((2, 3, 3), diagonal=1), c((1, 1))]),
    Row("triu", gc.triu, lambda x, diagonal=0: np.triu(x, diagonal),
        [c((3, 4)), c((4, 3), diagonal=1), c((2, 3, 3), diagonal=-1), c((1, 1))]),
    Row("diag", gc.diag, lambda x, diagonal=0: np.diag(x, diagonal),
        [c((3,)), c((3,), diagonal=1), c((3, 4)), c((4, 3), diagonal=-1), c((1,))]),
    Row("outer", gc.outer, np.outer, [c((3,), (4,)), c((1,), (2,)), c((2, 2), (3,))]),
    Row("einsum", lambda a, b, eq: gc.einsum(eq, a, b), lambda a, b, eq: np.einsum(eq, a, b),
        [c((3, 4), (4, 5), eq="ij,jk->ik"), c((2, 3, 4), (2, 4, 5), eq="bij,bjk->bik"),
         c((3,), (3,), eq="i,i->"), c((3, 4), (3,), eq="ij,i->j"), c((2, 3), (4,), eq="ij,k->ijk"),
         c((1, 1), (1, 1), eq="ij,kj->ik")]),
    Row("einsum_unary", lambda a, eq: gc.einsum(eq, a), lambda a, eq: np.einsum(eq, a),
        [c((3, 4), eq="ij->ji"), c((2, 3, 4), eq="bij->b"), c((1,), eq="i->")]),
    Row("pad", lambda x, pad, value=0.0: F.pad(x, pad, value=value), np_pad,
        [c((3, 4), pad=(1, 2)), c((2, 3, 2), pad=(0, 1, 2, 0), value=1.5), c((1,), pad=(2, 0))]),
    Row("chunk", lambda x, chunks, dim=0: gc.chunk(x, chunks, dim),
        lambda x, chunks, dim=0: tuple(np.array_split(x, chunks, axis=dim)),
        [c((4, 3), chunks=2), c((3, 5), chunks=2, dim=1), c((1,), chunks=1)]),
    Row("split", lambda x, s, dim=0: gc.split(x, s, dim),
        lambda x, s, dim=0: tuple(np.split(x, np.cumsum(s)[:-1] if isinstance(s, list)
                                           else range(s, x.shape[dim], s), axis=dim)),
        [c((5, 3), s=2), c((3, 5), s=[1, 4], dim=1), c((1,), s=1)]),
    Row("remainder", gc.remainder, np.mod, [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))],
        (U(-3, 3), away((0.0,), gap=0.5))),
    Row("fmod", gc.fmod, np.fmod, [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))],
        (U(-3, 3), away((0.0,), gap=0.5))),
    Row("floor_divide", gc.floor_divide, np.floor_divide,
        [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))], (U(-3, 3), away((0.0,), gap=0.5))),
    Row("div_trunc", lambda a, b: gc.div(a, b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b),
        [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))], (U(-3, 3), away((0.0,), gap=0.5))),
    Row("setitem", _setitem, _np_setitem,
        [c((3, 4), (4,), idx=1), c((3, 4), (2,), idx=(slice(None), [0, 2])),
         c((4, 3), (2, 3), idx=np.array([3, 1])), c((3, 4), (1,), idx=(np.array([0, 2]), 1)),
         c((1,), (), idx=0)]),
    Row("index_any_dim", lambda x, idx: x[idx], lambda x, idx: x[idx],
        [c((3, 4), idx=(slice(None), [0, 2])), c((2, 3, 4), idx=(Ellipsis, [3, 0, 3])),
         c((3, 4), idx=(range(3), np.array([0, 1, 3]))), c((2, 3, 2), idx=(1, slice(None), [1, 0])),
         c((1, 1), idx=(slice(None), [0]))]),
    Row("erfc", gc.erfc, lambda x: 1 - np_erf(x), [c((3, 4)), c(())]),
    Row("log2", gc.log2, np.log2, [c((3, 4)), c((1,))], U(0.1, 3)),
    Row("log10", gc.log10, np.log10, [c((3, 4)), c((1,))], U(0.1, 3)),
    Row("exp2", gc.exp2, np.exp2, [c((3, 4)), c((1,))]),
    Row("frac", gc.frac, lambda x: x - np.trunc(x), [c((3, 4)), c((1,))], away(INTS)),
    Row("kthvalue", lambda x, k, dim: gc.kthvalue(x, k, dim).values,
        lambda x, k, dim: np.take(np.sort(x, axis=dim), k - 1, axis=dim),
        [c((3, 5), k=2, dim=1), c((4, 3), k=4, dim=0), c((1,), k=1, dim=0)]),
    Row("msort", gc.msort, lambda x: np.sort(x, axis=0), [c((4, 3)), c((1,))]),
    Row("narrow", gc.narrow, lambda x, dim, start, length: np.take(
        x, np.arange(start, start + length), axis=dim),
        [c((4, 3), dim=0, start=1, length=2), c((3, 5), dim=1, start=0, length=5),
         c((1,), dim=0, start=0, length=1)]),
    Row("unbind", gc.unbind, lambda x, dim=0: tuple(np.moveaxis(x, dim, 0)),
        [c((3, 4)), c((2, 3), dim=1), c((1,))]),
    Row("repeat_interleave", gc.repeat_interleave,
        lambda x, repeats, dim=None: np.repeat(x, repeats, axis=dim),
        [c((2, 3), repeats=2, dim=0), c((2, 3), repeats=[1, 0, 2], dim=1), c((1,), repeats=3)]),
    Row("trace", gc.trace, np.trace, [c((3, 4)), c((3, 3)), c((1, 1))]),
    Row("diagonal", gc.diagonal, lambda x, offset=0: np.diagonal(x, offset).copy(),
        [c((3, 4)), c((4, 3), offset=-1), c((3, 4), offset=2), c((1, 1))]),
    Row("take_along_dim", lambda x, idx, dim: x.take_along_dim(gc.tensor(idx), dim),
        lambda x, idx, dim: np.take_along_axis(x, idx, dim),
        [c((2, 4), idx=IDX2, dim=1), c((1,), idx=np.array([0]), dim=0)]),
    Row("inplace_chain", _inplace_chain, lambda x, y: np.exp((x + y) * y + 1.0),
        [c((3, 4), (3, 4)), c((3, 4), (4,)), c((1,), (1,))]),
    Row("function_apply", lambda x: _Cube.apply(x, 2.0), lambda x: 2.0 * x ** 3,
        [c((3, 4)), c((1,))]),
    Row("function_two_outputs", lambda a, b: _MulAdd.apply(a, b), lambda a, b: (a * b, a + b),
        [c((3, 4), (3, 4)), c((2, 3), (3,)), c((1,), (1,))]),
]

PARITY_API_OPS = {n: n for n in (
    "log1p expm1 erf floor ceil round trunc sign nan_to_num cumsum cumprod logcumsumexp cummax "
    "cummin prod norm var_mean std_mean sort topk gather scatter scatter_add index_select "
    "masked_fill masked_select repeat tile flip roll tril triu diag outer einsum pad chunk split "
    "remainder fmod floor_divide setitem erfc log2 log10 exp2 frac kthvalue msort narrow unbind "
    "repeat_interleave trace diagonal take_along_dim").split()}
PARITY_API_OPS.update({"linalg.norm": "linalg_norm", "div(rounding_mode=)": "div_trunc",
                       "in-place twins": "inplace_chain", "x[:, idx]": "index_any_dim", "autograd.Function":
                       "function_apply function_two_outputs", "einsum (unary)": "einsum_unary"})
