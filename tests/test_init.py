"""gc.nn.init: torch's gains and fan rules, bounds and moments over large tensors, layer
defaults, reproducibility from the global generator."""
import math

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
from gradcore.nn import init


def _np(t):
    return t.detach().numpy().astype(np.float64)


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(gc.empty(3, 5)) == (5, 3)
    assert init._calculate_fan_in_and_fan_out(gc.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(gc.empty(5))
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_uniform_(gc.empty(3, 3), mode="fan_avg")


# Moments within 5 standard errors (n >= 40000 samples): the mean's SE is sd/sqrt(n); the
# sample sd's SE is sd/sqrt(2n) for a normal and sd/sqrt(5n) for a uniform (kurtosis 9/5).
def _check_uniform(a, lo, hi):
    n, sd = a.size, (hi - lo) / math.sqrt(12)
    assert a.min() >= lo and a.max() < hi
    assert abs(a.mean() - (lo + hi) / 2) < 5 * sd / math.sqrt(n)
    assert abs(a.std() - sd) < 5 * sd / math.sqrt(5 * n)


def _check_normal(a, mean, std):
    n = a.size
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(a.std() - std) < 5 * std / math.sqrt(2 * n)


@pytest.fixture(autouse=True)
def _seed():
    gc.manual_seed(2024)


def test_uniform_normal_constant_eye():
    t = gc.empty(400, 500)
    assert init.uniform_(t, -2.0, 3.0) is t
    _check_uniform(_np(t), -2.0, 3.0)
    init.normal_(t, 1.5, 0.5)
    _check_normal(_np(t), 1.5, 0.5)
    init.constant_(t, 0.25)
    assert np.all(t.numpy() == 0.25)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    e = init.eye_(gc.empty(3, 5, dtype=gc.float64))
    np.testing.assert_array_equal(e.numpy(), np.eye(3, 5))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(gc.empty(2, 2, 2))


@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 5, 5)])
def test_xavier(shape):
    t = gc.empty(*shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
    std = 0.8 * math.sqrt(2.0 / (fan_in + fan_out))
    init.xavier_uniform_(t, gain=0.8)
    _check_uniform(_np(t), -math.sqrt(3) * std, math.sqrt(3) * std)
    init.xavier_normal_(t, gain=0.8)
    _check_normal(_np(t), 0.0, std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlin,a", [("relu", 0), ("leaky_relu", 0.1), ("tanh", 0)])
def test_kaiming(mode, nonlin, a):
    t = gc.empty(300, 20, 3, 3)
    fan = 180 if mode == "fan_in" else 2700
    std = init.calculate_gain(nonlin, a) / math.sqrt(fan)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlin)
    bound = math.sqrt(3) * std
    _check_uniform(_np(t), -bound, bound)
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlin)
    _check_normal(_np(t), 0.0, std)


def test_kaiming_on_empty_tensor_warns_and_is_a_no_op():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(gc.empty(0, 3))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 2, 3), (7, 7)])
def test_orthogonal(shape):
    t = init.orthogonal_(gc.empty(*shape, dtype=gc.float64), gain=2.0)
    q = t.numpy().reshape(shape[0], -1) / 2.0
    if q.shape[0] >= q.shape[1]:
        np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-12)
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(gc.empty(3))


def test_trunc_normal_stays_in_range():
    t = init.trunc_normal_(gc.empty(200, 200), mean=0.0, std=1.0, a=-0.5, b=1.0)
    a = _np(t)
    assert a.min() >= -0.5 and a.max() <= 1.0 and np.unique(a).size > 30000


def test_linear_default_init_as_torch():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in))
    _check_uniform(_np(lin.weight), -bound, bound)
    b = _np(lin.bias)
    assert b.min() >= -bound and b.max() < bound and b.std() > 0.4 * bound
    with pytest.warns(UserWarning, match="zero-element"):  # as torch
        assert nn.Linear(0, 3).weight.shape == (3, 0)


def test_embedding_default_init_is_standard_normal():
    _check_normal(_np(nn.Embedding(1000, 200).weight), 0.0, 1.0)


def test_init_is_reproducible_with_manual_seed_and_draws_advance():
    gc.manual_seed(123)
    a = _np(nn.Linear(5, 4).weight)
    b = _np(nn.Linear(5, 4).weight)
    gc.manual_seed(123)
    np.testing.assert_array_equal(_np(nn.Linear(5, 4).weight), a)
    assert not np.array_equal(a, b)


def test_init_does_not_record_a_graph():
    p = nn.Parameter(gc.zeros(3, 3))
    init.xavier_uniform_(p)
    assert p.is_leaf and p.grad is None and p.requires_grad
    with pytest.raises(TypeError, match="Tensor"):
        init.normal_(np.zeros(3))
