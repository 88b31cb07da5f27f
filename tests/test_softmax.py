"""softmax / log_softmax / logsumexp beyond the op table: stability, infinities, identities,
tile boundaries of the (outer, D, inner) kernels, and the closed-form backward rules."""
import numpy as np
import pytest

import gradcore as gc
from op_table import np_log_softmax, np_logsumexp, np_softmax

INF = np.inf


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
def test_no_overflow_for_large_logits(dtype):
    x = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, 1e4]])
    y = gc.softmax(gc.tensor(x, dtype=dtype), dim=1).numpy()
    assert np.all(np.isfinite(y)) and y.dtype == dtype
    np.testing.assert_allclose(y, np_softmax(x, 1), atol=1e-6)
    ls = gc.log_softmax(gc.tensor(x, dtype=dtype), dim=1).numpy()
    np.testing.assert_allclose(ls, np_log_softmax(x, 1), rtol=1e-6)  # -2e4, not -inf
    lse = gc.logsumexp(gc.tensor(x, dtype=dtype), dim=1).numpy()
    np.testing.assert_allclose(lse, np_logsumexp(x, 1), rtol=1e-6)


# Slices as rows (dim=-1, the kernels' contiguous-row path) or as columns (dim=0 of the
# transpose, the tiled path); results are compared in the row layout.
LAYOUTS = ["row", "tile"]


def _apply(f, x, layout, **kw):
    """f(tensor, dim) on 2-D x with slices along the last dim, in the given kernel layout."""
    if layout == "row":
        return f(x, -1, **kw)
    out = f(x.T, 0, **kw)
    return out.T if out.ndim == 2 else out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_masked_row_like_attention(layout):
    # -inf entries (masked positions) get probability exactly 0 and gradient 0.
    x0 = np.array([[0.5, -INF, 1.0, -INF], [-INF, 2.0, -INF, -INF], [-800, 0.0, -100, 3.0]])
    for dtype in (gc.float32, gc.float64):
        x = gc.tensor(x0, dtype=dtype, requires_grad=True)
        y = _apply(gc.softmax, x, layout)
        np.testing.assert_allclose(y.detach().numpy(), np_softmax(x0, -1), rtol=1e-6, atol=1e-37)
        assert np.all(y.detach().numpy()[np.isinf(x0)] == 0)
        (y * gc.tensor(np.arange(12.0).reshape(3, 4), dtype=dtype)).sum().backward()
        g = x.grad.numpy()
        assert np.all(np.isfinite(g)) and np.all(g[np.isinf(x0)] == 0)
        ls = _apply(gc.log_softmax, x.detach(), layout).numpy()
        assert np.all(ls[np.isinf(x0)] == -INF) and np.all(np.isfinite(ls[~np.isinf(x0)]))
        np.testing.assert_allclose(ls[~np.isinf(x0)], np_log_softmax(x0, -1)[~np.isinf(x0)],
                                   rtol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_all_minus_inf_row_is_nan_as_torch(layout):
    x = gc.tensor([[-INF, -INF], [0.0, 1.0]])
    assert np.all(np.isnan(_apply(gc.softmax, x, layout).numpy()[0]))
    assert np.all(np.isnan(_apply(gc.log_softmax, x, layout).numpy()[0]))
    assert np.all(np.isfinite(_apply(gc.softmax, x, layout).numpy()[1]))
    # logsumexp shifts by 0 when the max is infinite (as torch): -inf, and +inf with +inf inside
    for dtype in (gc.float32, gc.float64):
        t = gc.tensor([[-INF, -INF], [INF, 1.0], [-INF, 1.0]], dtype=dtype)
        np.testing.assert_allclose(_apply(gc.logsumexp, t, layout).numpy(), [-INF, INF, 1.0])
    assert gc.logsumexp(gc.zeros(3, 0), 1).numpy().tolist() == [-INF] * 3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nan_propagates_to_its_slice_only(layout):
    x = gc.tensor([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0], [np.nan, 1.0, 2.0]], dtype=gc.float64,
                  requires_grad=True)
    for f in (gc.softmax, gc.log_softmax, lambda t, d: gc.logsumexp(t, d, keepdim=True)):
        y = _apply(f, x, layout).detach().numpy()
        assert np.all(np.isnan(y[[0, 2]])) and np.all(np.isfinite(y[1]))
        _apply(f, x, layout).sum().backward()
        assert np.all(np.isnan(x.grad.numpy()[[0, 2]])) and np.all(np.isfinite(x.grad.numpy()[1]))
        x.grad = None


@pytest.mark.parametrize("shape, dim", [((3, 5, 130), 1), ((2, 7, 64), 1), ((2, 3, 65), 0),
                                        ((1, 200, 129), -2), ((5, 1, 3), 1), ((1,), 0), ((), 0),
                                        ((), -1)])
def test_identities_and_tiles(shape, dim):
    x = np.random.default_rng(1).normal(0, 3, shape)
    t = gc.tensor(x)  # float32
    y = gc.softmax(t, dim).numpy()
    ls = gc.log_softmax(t, dim).numpy()
    lse = gc.logsumexp(t, dim, keepdim=True).numpy()
    ax = dim if x.ndim else None
    np.testing.assert_allclose(y.sum(axis=ax), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ls, np.log(y), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x.astype(np.float32) - ls, np.broadcast_to(lse, x.shape),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, np_softmax(x, ax), rtol=1e-5, atol=1e-6)


def test_float32_long_row_sums_to_one():
    x = gc.tensor(np.random.default_rng(2).normal(0, 1, (3, 20000)))
    np.testing.assert_allclose(gc.softmax(x, 1).numpy().sum(1), 1.0, rtol=2e-5)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_backward_closed_forms(dim):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 5))
    g = rng.normal(size=(3, 4, 5))
    t = gc.tensor(x, requires_grad=True)
    gc.softmax(t, dim).backward(gc.tensor(g))
    y = np_softmax(x, dim)
    np.testing.assert_allclose(t.grad.numpy(), y * (g - (g * y).sum(dim, keepdims=True)), rtol=1e-10)
    t.grad = None
    gc.log_softmax(t, dim).backward(gc.tensor(g))
    np.testing.assert_allclose(t.grad.numpy(), g - y * g.sum(dim, keepdims=True), rtol=1e-10)
    t.grad = None
    gl = g.sum(dim)
    gc.logsumexp(t, dim).backward(gc.tensor(gl))
    np.testing.assert_allclose(t.grad.numpy(), np.expand_dims(gl, dim) * y, rtol=1e-10)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    rng = np.random.default_rng(4)
    x = gc.tensor(rng.normal(size=(4, 6)), requires_grad=True)
    target = np.array([0, 5, 2, 2])
    loss = -(gc.log_softmax(x, 1)[np.arange(4), target]).sum()
    loss.backward()
    expect = np_softmax(x.detach().numpy(), 1)
    expect[np.arange(4), target] -= 1
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, dim", [((2, 1, 3), (0, 2)), ((2, 3, 4, 5), (1, 3)),
                                        ((2, 3, 4, 5), (3, 0)), ((2, 3), (-1, -2)),
                                        ((2, 3), ()), ((2, 3), None), ((2, 3), (np.int64(1),))])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_dim_sets(shape, dim, keepdim):
    x = np.random.default_rng(5).normal(size=shape)
    t = gc.tensor(x, requires_grad=True)
    y = gc.logsumexp(t, dim, keepdim=keepdim)
    axes = None if dim in ((), None) else tuple(sorted({d % len(shape) for d in dim}))
    np.testing.assert_allclose(y.detach().numpy(), np_logsumexp(x, axes, keepdim), rtol=1e-12)
    assert gc.autograd.gradcheck(lambda a: gc.logsumexp(a, dim, keepdim=keepdim), [t])


def test_dtype_argument_and_methods():
    x = gc.tensor([[1.0, 2.0]])
    assert gc.softmax(x, 1, dtype=gc.float64).dtype == gc.float64
    np.testing.assert_allclose(x.softmax(-1).numpy(), gc.softmax(x, -1).numpy())
    np.testing.assert_allclose(x.log_softmax(1).numpy(), gc.log_softmax(x, 1).numpy())
    np.testing.assert_allclose(x.logsumexp(1).numpy(), gc.logsumexp(x, 1).numpy())
    assert gc.logsumexp(x).shape == () and gc.logsumexp(x, 1, keepdim=True).shape == (1, 1)


def test_bad_arguments():
    x = gc.zeros(2, 3)
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range"):
        gc.softmax(x, 2)
    with pytest.raises(IndexError, match="logsumexp: dim -3"):
        gc.logsumexp(x, (0, -3))
    with pytest.raises(TypeError, match="log_softmax: dim must be an int"):
        gc.log_softmax(x, (0, 1))
    with pytest.raises(TypeError, match="softmax: expected a float32 or float64 tensor, got int64"):
        gc.softmax(gc.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match="logsumexp"):
        gc.logsumexp(gc.tensor([True]), 0)
    with pytest.raises(ValueError, match="logsumexp: dim 1 appears multiple times"):
        gc.logsumexp(x, (1, -1))
