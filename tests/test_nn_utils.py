"""gc.nn.utils: gradient clipping by norm and value, parameters <-> vector."""
import math

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
from gradcore.nn import utils


def _params_with_grads(dtype=gc.float64, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    ps = []
    for shape in [(3, 4), (4,), (2, 2, 2)]:
        p = nn.Parameter(gc.tensor(rng.standard_normal(shape), dtype=dtype))
        p.grad = gc.tensor(rng.standard_normal(shape) * scale, dtype=dtype)
        ps.append(p)
    return ps


def _ref_norm(grads, p):
    flat = np.concatenate([g.reshape(-1) for g in grads])
    if math.isinf(p):
        return np.abs(flat).max()
    return (np.abs(flat) ** p).sum() ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_returns_total_norm_and_scales(norm_type, max_norm):
    ps = _params_with_grads()
    before = [p.grad.numpy().copy() for p in ps]
    total = utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ref = _ref_norm(before, norm_type)
    assert isinstance(total, gc.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), ref, rtol=1e-12)
    coef = min(max_norm / (ref + 1e-6), 1.0)  # torch always multiplies by the clamped coef
    for p, g in zip(ps, before):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    if max_norm < ref:
        np.testing.assert_allclose(_ref_norm([p.grad.numpy() for p in ps], norm_type), max_norm,
                                   rtol=1e-5)


def test_clip_grad_norm_float32_in_place_and_skips_missing_grads():
    ps = _params_with_grads(gc.float32, scale=10.0)
    ps.append(nn.Parameter(gc.zeros(3)))  # no grad: ignored
    gref = ps[0].grad
    arr = gref.numpy()
    total = utils.clip_grad_norm_(ps, 1.0)
    assert total.dtype == gc.float32
    assert ps[0].grad is gref and np.shares_memory(arr, ps[0].grad.numpy())
    np.testing.assert_allclose(_ref_norm([p.grad.numpy() for p in ps[:3]], 2), 1.0, rtol=1e-5)
    assert ps[3].grad is None


def test_clip_grad_norm_single_tensor_no_grads_and_nonfinite():
    p = nn.Parameter(gc.zeros(2))
    p.grad = gc.tensor([3.0, 4.0])
    assert utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert utils.clip_grad_norm_([nn.Parameter(gc.zeros(2))], 1.0).item() == 0.0
    p.grad = gc.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert math.isinf(utils.clip_grad_norm_(p, 1.0).item())


def test_clip_grad_norm_on_a_model_after_backward():
    gc.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    (net(gc.randn(16, 4)) * 100.0).sum().backward()
    grads = [p.grad.numpy().astype(np.float64) for p in net.parameters()]
    total = utils.clip_grad_norm_(net.parameters(), 0.1)
    np.testing.assert_allclose(total.item(), _ref_norm(grads, 2), rtol=1e-5)
    np.testing.assert_allclose(_ref_norm([p.grad.numpy() for p in net.parameters()], 2), 0.1,
                               rtol=1e-4)


def test_get_total_norm_and_clip_grads_with_norm():
    ps = _params_with_grads()
    grads = [p.grad for p in ps]
    total = utils.get_total_norm(grads, 2.0)
    np.testing.assert_allclose(total.item(), _ref_norm([g.numpy() for g in grads], 2))
    before = [g.numpy().copy() for g in grads]
    utils.clip_grads_with_norm_(ps, 1.0, total)
    for g, b in zip(grads, before):
        np.testing.assert_allclose(g.numpy(), b / (total.item() + 1e-6), rtol=1e-12)


def test_clip_grad_value():
    ps = _params_with_grads(scale=3.0)
    before = [p.grad.numpy().copy() for p in ps]
    utils.clip_grad_value_(ps, 1.5)
    for p, g in zip(ps, before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.5, 1.5))


def test_parameters_to_vector_and_back():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = utils.parameters_to_vector(net.parameters())
    ref = np.concatenate([p.detach().numpy().reshape(-1) for p in net.parameters()])
    assert vec.shape == (11,)
    np.testing.assert_array_equal(vec.detach().numpy(), ref)
    ids = [id(p) for p in net.parameters()]
    utils.vector_to_parameters(gc.arange(11, dtype=gc.float32), net.parameters())
    assert [id(p) for p in net.parameters()] == ids
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(net[1].bias.detach().numpy(), [10.0])
    with pytest.raises(TypeError, match="Tensor"):
        utils.vector_to_parameters(np.zeros(11), net.parameters())
    with pytest.raises(ValueError, match="11"):
        utils.vector_to_parameters(gc.zeros(10), net.parameters())


def test_parameters_to_vector_is_differentiable():
    net = nn.Linear(2, 2)
    v = utils.parameters_to_vector(net.parameters())
    (v * gc.arange(6, dtype=gc.float32)).sum().backward()
    np.testing.assert_array_equal(net.weight.grad.numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(net.bias.grad.numpy(), [4, 5])
