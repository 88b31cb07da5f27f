"""Property tests (hypothesis): broadcasting binary ops and reductions over random dim subsets.
Oracles are numpy: the forward values, and the gradients written out by hand and summed back
to each input's shape (numpy's un-broadcast), for a random output gradient."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import gradcore as gc
from op_table import np_logsumexp

SETTINGS = settings(deadline=None, max_examples=60)


def unbroadcast(g, shape):
    """Sum g (of the broadcast shape) back to `shape`."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    return g.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1),
                 keepdims=True).reshape(shape)


def _values(seed, shapes, away_from_zero=()):
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(shapes):
        v = rng.uniform(-2, 2, s)
        if i in away_from_zero:
            v = np.where(v >= 0, v + 0.5, v - 0.5)
        out.append(v)
    return out, rng


# d op / d a and d op / d b as functions of (g, a, b): numpy before un-broadcasting.
BINARY = {
    "add": (gc.add, np.add, lambda g, a, b: g, lambda g, a, b: g),
    "sub": (gc.sub, np.subtract, lambda g, a, b: g, lambda g, a, b: -g),
    "mul": (gc.mul, np.multiply, lambda g, a, b: g * b, lambda g, a, b: g * a),
    "div": (gc.div, np.divide, lambda g, a, b: g / b, lambda g, a, b: -g * a / b ** 2),
}


@SETTINGS
@given(st.sampled_from(sorted(BINARY)), mutually_broadcastable_shapes(num_shapes=2, max_dims=4,
                                                                      min_side=0, max_side=4),
       st.integers(0, 2 ** 32 - 1))
def test_binary_broadcasting(name, shapes, seed):
    fn, ref, da, db = BINARY[name]
    sa, sb = shapes.input_shapes
    (a, b), rng = _values(seed, (sa, sb), away_from_zero=(1,) if name == "div" else ())
    ta = gc.tensor(a, requires_grad=True)
    tb = gc.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    expect = ref(a, b)
    assert out.shape == expect.shape == shapes.result_shape
    np.testing.assert_allclose(out.detach().numpy(), expect, rtol=1e-12)
    g = rng.normal(size=out.shape)
    out.backward(gc.tensor(g))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    np.testing.assert_allclose(ta.grad.numpy(), unbroadcast(da(g, a, b), sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), unbroadcast(db(g, a, b), sb), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(mutually_broadcastable_shapes(num_shapes=3, max_dims=4, min_side=0, max_side=4),
       st.integers(0, 2 ** 32 - 1))
def test_where_broadcasting(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    (c, a, b), rng = _values(seed, (sc, sa, sb))
    c = c > 0
    ta, tb = gc.tensor(a, requires_grad=True), gc.tensor(b, requires_grad=True)
    out = gc.where(gc.tensor(c), ta, tb)
    np.testing.assert_array_equal(out.detach().numpy(), np.where(c, a, b))
    assert out.shape == shapes.result_shape
    g = rng.normal(size=out.shape)
    out.backward(gc.tensor(g))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    np.testing.assert_allclose(ta.grad.numpy(), unbroadcast(np.where(c, g, 0.0), sa), atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), unbroadcast(np.where(c, 0.0, g), sb), atol=1e-12)


@st.composite
def shape_and_dims(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    nd = len(shape)
    if nd == 0:
        return shape, draw(st.sampled_from([None, 0, -1, (0,)]))
    dims = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                          st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)))
    if isinstance(dims, list):  # some dims negative, in random order
        dims = tuple(d - nd if draw(st.booleans()) else d for d in dims)
    return shape, dims


def _axes(dims, nd):
    if dims is None or nd == 0:
        return tuple(range(nd))
    return tuple(sorted({d % nd for d in ((dims,) if isinstance(dims, int) else dims)}))


def _reduction_grad(name, x, g, axes, unbiased):
    """d sum(g * op(x)) / dx with g keepdim-shaped; numpy."""
    n = int(np.prod([x.shape[a] for a in axes]))
    if name == "sum":
        return np.broadcast_to(g, x.shape)
    if name == "mean":
        return np.broadcast_to(g / n, x.shape)
    if name in ("amax", "amin"):
        y = (np.max if name == "amax" else np.min)(x, axis=axes, keepdims=True)
        hit = x == y
        return np.where(hit, g / hit.sum(axis=axes, keepdims=True), 0.0)
    if name == "logsumexp":
        return g * np.exp(x - np_logsumexp(x, axes, keepdim=True))
    return g * 2 * (x - x.mean(axis=axes, keepdims=True)) / (n - unbiased)  # var


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:Degrees of freedom",
                            "ignore:invalid value encountered", "ignore:divide by zero")
# (numpy's own reference warns when it reduces empty slices)
@SETTINGS
@given(st.sampled_from(["sum", "mean", "amax", "amin", "var", "logsumexp"]), shape_and_dims(),
       st.booleans(), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_reductions_over_dim_subsets(name, shape_dims, keepdim, unbiased, seed):
    shape, dims = shape_dims
    axes = _axes(dims, len(shape))
    n = int(np.prod([shape[a] for a in axes]))
    if name in ("amax", "amin"):
        assume(n > 0)
    if name == "var":
        assume(n > int(unbiased))
    (x,), rng = _values(seed, (shape,))
    t = gc.tensor(x, requires_grad=True)
    kw = {"unbiased": unbiased} if name == "var" else {}
    out = getattr(gc, name)(t, dims, keepdim=keepdim, **kw)
    if name == "logsumexp":
        expect = np_logsumexp(x, axes, keepdim)
    elif name == "var":
        expect = np.var(x, axis=axes, ddof=int(unbiased), keepdims=keepdim)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            expect = getattr(np, {"amax": "max", "amin": "min"}.get(name, name))(
                x, axis=axes, keepdims=keepdim)
    assert out.shape == np.shape(expect)
    np.testing.assert_allclose(out.detach().numpy(), expect, rtol=1e-10, atol=1e-12)
    g = rng.normal(size=out.shape)
    out.backward(gc.tensor(g))
    assert t.grad.shape == shape and t.grad.dtype == gc.float64
    gk = g.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    np.testing.assert_allclose(t.grad.numpy(), _reduction_grad(name, x, gk, axes, unbiased),
                               rtol=1e-9, atol=1e-12)
