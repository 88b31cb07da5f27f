"""Normalisation: batch_norm and its modules here (layer_norm, group_norm: test_norm_layer.py),
and all three training in a network. Forward against numpy
transcriptions of torch's definitions (float32 and float64), every gradient (input, weight,
bias) by float64 gradcheck, running statistics against a numpy transcription of torch's
update (momentum 0.1 and None), train()/eval() behaviour, state dicts, errors, and an
optional parity check against torch (skipped when torch is absent)."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck

TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}


# ---- numpy references (torch's definitions) -----------------------------------------------
def _bshape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bn_ref(x, rm, rv, w, b, training, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    mean, var = (x64.mean(axes), x64.var(axes)) if training else (rm, rv)
    y = (x64 - mean.reshape(_bshape(x))) / np.sqrt(var.reshape(_bshape(x)) + eps)
    if w is not None:
        y = y * w.reshape(_bshape(x))
    if b is not None:
        y = y + b.reshape(_bshape(x))
    return y, mean, var


def running_ref(rm, rv, x, momentum):
    """torch: running = (1 - m) running + m batch, with the unbiased batch variance."""
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    mean, var = x.astype(np.float64).mean(axes), x.astype(np.float64).var(axes) * n / (n - 1)
    return (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * var


def _data(shape, dtype, seed=10, loc=0.5, scale=2.0):
    # seed 10, not 0: gradcheck draws its projections from default_rng(0), and a projection v
    # equal to (x - loc) / scale is in the null space of a normalisation's Jacobian
    return (np.random.default_rng(seed).standard_normal(shape) * scale + loc).astype(dtype)


def _t(a, grad=False):
    return gc.tensor(a, requires_grad=grad)


DTYPES = [np.float32, np.float64]
# (N, C) and (N, C, L) for BatchNorm1d, 4-D for 2d; odd sizes; runs shorter and longer than
# the kernel's 256-element grouping; C > 256 with (N, C) (several channel blocks).
BN_SHAPES = [(2, 3), (5, 3), (4, 3, 7), (2, 4, 5, 6), (3, 2, 300), (7, 300), (3, 5, 1, 1)]


# ---- batch_norm ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_batch_norm_training_forward_and_running_stats(dtype, shape, affine):
    c = shape[1]
    x = _data(shape, dtype)
    w = _data(c, dtype, 1) if affine != "none" else None
    b = _data(c, dtype, 2) if affine == "both" else None
    rm0, rv0 = _data(c, dtype, 3), np.abs(_data(c, dtype, 4)) + 0.5
    rm, rv = _t(rm0), _t(rv0)
    y = F.batch_norm(_t(x), rm, rv, None if w is None else _t(w), None if b is None else _t(b),
                     training=True, momentum=0.3)
    want, _, _ = bn_ref(x, None, None, w, b, True)
    assert y.dtype == gc.tensor(x).dtype
    np.testing.assert_allclose(y.numpy(), want, **TOL[dtype])
    wm, wv = running_ref(rm0.astype(np.float64), rv0.astype(np.float64), x, 0.3)
    np.testing.assert_allclose(rm.numpy(), wm, **TOL[dtype])
    np.testing.assert_allclose(rv.numpy(), wv, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (2, 4, 5, 6)])
def test_batch_norm_eval_uses_running_stats_and_leaves_them_alone(dtype, shape):
    c = shape[1]
    x, w, b = _data(shape, dtype), _data(c, dtype, 1), _data(c, dtype, 2)
    rm0, rv0 = _data(c, dtype, 3), np.abs(_data(c, dtype, 4)) + 0.5
    rm, rv = _t(rm0), _t(rv0)
    y = F.batch_norm(_t(x), rm, rv, _t(w), _t(b), training=False, eps=1e-3)
    want, _, _ = bn_ref(x, rm0.astype(np.float64), rv0.astype(np.float64), w, b, False, eps=1e-3)
    np.testing.assert_allclose(y.numpy(), want, **TOL[dtype])
    np.testing.assert_array_equal(rm.numpy(), rm0)
    np.testing.assert_array_equal(rv.numpy(), rv0)


def _bn_fn(training, with_w, with_b, running=None):
    def fn(x, *p):
        it = iter(p)
        w = next(it) if with_w else None
        b = next(it) if with_b else None
        rm, rv = running if running is not None else (None, None)
        return F.batch_norm(x, rm, rv, w, b, training=training)
    return fn


@pytest.mark.parametrize("shape", [(2, 3), (5, 3), (3, 2, 5), (2, 3, 3, 2), (3, 2, 1, 1)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_batch_norm_training_gradcheck(shape, affine):
    c = shape[1]
    x = _t(_data(shape, np.float64), True)
    p = []
    if affine in ("both", "weight"):
        p.append(_t(_data(c, np.float64, 1), True))
    if affine in ("both", "bias"):
        p.append(_t(_data(c, np.float64, 2), True))
    gradcheck(_bn_fn(True, affine in ("both", "weight"), affine in ("both", "bias")), [x] + p,
              name=f"batch_norm{shape}")


@pytest.mark.parametrize("shape", [(1, 3), (5, 3), (3, 2, 5), (2, 3, 3, 2)])
def test_batch_norm_eval_gradcheck(shape):
    c = shape[1]
    running = (_t(_data(c, np.float64, 3)), _t(np.abs(_data(c, np.float64, 4)) + 0.5))
    x, w, b = _t(_data(shape, np.float64), True), _t(_data(c, np.float64, 1), True), \
        _t(_data(c, np.float64, 2), True)
    gradcheck(_bn_fn(False, True, True, running), [x, w, b], name=f"batch_norm_eval{shape}")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 2, 300), (40, 3), (3, 300), (4, 3, 20)])
def test_batch_norm_gradcheck_long_runs_and_many_channels(shape, training):
    # beyond gradcheck's full-Jacobian size: vectorized long runs (S >= 256), grouped short runs,
    # several channel blocks (C = 300 > 256 with S = 1)
    c = shape[1]
    running = (_t(_data(c, np.float64, 3)), _t(np.abs(_data(c, np.float64, 4)) + 0.5))
    x, w, b = _t(_data(shape, np.float64), True), _t(_data(c, np.float64, 1), True), \
        _t(_data(c, np.float64, 2), True)
    gradcheck(_bn_fn(training, True, True, None if training else running), [x, w, b],
              name=f"batch_norm{shape}")


def test_batch_norm_gradients_only_where_wanted():
    x = _t(_data((4, 3, 5), np.float64))
    w, b = _t(np.ones(3), True), _t(np.zeros(3))
    F.batch_norm(x, None, None, w, b, training=True).pow(3).sum().backward()
    assert x.grad is None and b.grad is None and w.grad.shape == (3,)
    gradcheck(lambda w: F.batch_norm(x, None, None, w, b, training=True).pow(3), [w])


def test_batch_norm_large_input_matches_numpy_and_is_thread_count_independent():
    x = _data((16, 8, 24, 24), np.float32, loc=3.0)   # above the parallel threshold
    w, b = _data(8, np.float32, 1), _data(8, np.float32, 2)
    g = _data(x.shape, np.float32, 5)
    outs = []
    n0 = gc.get_num_threads()
    try:
        for n in (1, 2):
            gc.set_num_threads(n)
            xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
            rm, rv = gc.zeros(8), gc.ones(8)
            y = F.batch_norm(xt, rm, rv, wt, bt, training=True)
            (y * _t(g)).sum().backward()
            outs.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy(),
                         rm.numpy(), rv.numpy()])
    finally:
        gc.set_num_threads(n0)
    for a, b_ in zip(*outs):
        np.testing.assert_array_equal(a, b_)
    np.testing.assert_allclose(outs[0][0], bn_ref(x, None, None, w, b, True)[0], rtol=1e-4,
                               atol=1e-4)


def test_batch_norm_statistics_are_accurate_for_a_large_mean():
    # var = sum(x^2)/M - mean^2 would lose every digit here in float32; shifted sums do not
    x = (1e4 + np.random.default_rng(0).standard_normal((64, 2, 50))).astype(np.float32)
    y = F.batch_norm(_t(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy(), bn_ref(x, None, None, None, None, True)[0], atol=2e-3)


def test_batch_norm_constant_channel_and_non_contiguous_numpy_input():
    x = np.full((4, 2, 3), 7.0)
    y = F.batch_norm(x, None, None, gc.ones(2, dtype=gc.float64), gc.tensor([1.0, -2.0],
                     dtype=gc.float64), training=True)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to([[1.0], [-2.0]], (4, 2, 3)))
    xn = _data((3, 6, 4), np.float64).transpose(0, 2, 1)   # (3, 4, 6), not C-contiguous
    np.testing.assert_allclose(F.batch_norm(xn, None, None, training=True).numpy(),
                               bn_ref(np.ascontiguousarray(xn), None, None, None, None, True)[0],
                               rtol=1e-12, atol=1e-12)


def test_batch_norm_running_update_is_in_place_and_runs_without_grad_mode():
    rm, rv = gc.zeros(3), gc.ones(3)
    arr = rm.numpy()
    with gc.no_grad():
        F.batch_norm(_t(_data((6, 3), np.float32)), rm, rv, training=True)
    assert np.shares_memory(arr, rm.numpy()) and np.any(arr != 0)


def test_batch_norm_functional_errors():
    x = _t(_data((4, 3), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(_t(_data((1, 3), np.float32)), gc.zeros(3), gc.ones(3), training=True)
    with pytest.raises(ValueError, match="must be defined in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"running_mean should contain 3 elements .*\(4, 3\)"):
        F.batch_norm(x, gc.zeros(4), gc.ones(4), training=True)
    with pytest.raises(ValueError, match=r"weight should have shape \(3,\)"):
        F.batch_norm(x, None, None, gc.ones(2), training=True)
    with pytest.raises(TypeError, match="weight is float64 but the input is float32"):
        F.batch_norm(x, None, None, gc.ones(3, dtype=gc.float64), training=True)
    with pytest.raises(TypeError, match="running_mean is float64"):
        F.batch_norm(x, gc.zeros(3, dtype=gc.float64), gc.ones(3), training=True)
    with pytest.raises(ValueError, match="at least 2 dims"):
        F.batch_norm(_t(_data(3, np.float32)), None, None, training=True)
    with pytest.raises(TypeError, match="momentum must be a float"):
        F.batch_norm(x, gc.zeros(3), gc.ones(3), training=True, momentum=None)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.batch_norm(gc.zeros(4, 3, dtype=gc.int64), None, None, training=True)


# ---- BatchNorm modules ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (2, 3, 4, 5))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_module_running_stats_follow_torchs_update(dtype, cls, shape, momentum):
    bn = cls(3, momentum=momentum)
    if dtype == np.float64:
        bn.double()
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(1, 5):
        x = _data(shape, dtype, seed=step, loc=step)
        y = bn(_t(x, True))
        np.testing.assert_allclose(y.detach().numpy(), bn_ref(x, None, None, np.ones(3),
                                                              np.zeros(3), True)[0], **TOL[dtype])
        rm, rv = running_ref(rm, rv, x, 1.0 / step if momentum is None else momentum)
        assert bn.num_batches_tracked.item() == step
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, **TOL[dtype])
        np.testing.assert_allclose(bn.running_var.numpy(), rv, **TOL[dtype])
    bn.eval()
    x = _data(shape, dtype, seed=9)
    np.testing.assert_allclose(bn(_t(x)).detach().numpy(), bn_ref(x, rm, rv, None, None, False)[0],
                               **TOL[dtype])
    assert bn.num_batches_tracked.item() == 4
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, **TOL[dtype])


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    bn = nn.BatchNorm2d(3, track_running_stats=False)
    assert bn.running_mean is None and bn.num_batches_tracked is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = _data((2, 3, 4, 4), np.float32)
    y_train = bn(_t(x)).detach().numpy()
    y_eval = bn.eval()(_t(x)).detach().numpy()
    np.testing.assert_array_equal(y_train, y_eval)
    np.testing.assert_allclose(y_eval, bn_ref(x, None, None, None, None, True)[0], rtol=1e-5,
                               atol=1e-5)


def test_batchnorm_momentum_none_without_tracking_and_zero_momentum():
    bn = nn.BatchNorm1d(2, momentum=0.0)
    bn(_t(_data((5, 2), np.float32)))
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0, 0])
    assert bn.num_batches_tracked.item() == 1
    bn = nn.BatchNorm1d(2, momentum=None)
    bn.num_batches_tracked = None   # torch then uses factor 0.0
    bn(_t(_data((5, 2), np.float32)))
    np.testing.assert_array_equal(bn.running_var.numpy(), [1, 1])


def test_empty_batches_as_torch():
    # torch: an empty batch gives an empty output, zero parameter gradients, unchanged running
    # statistics, and still counts in num_batches_tracked
    for bn, x in [(nn.BatchNorm1d(3), gc.zeros(0, 3, requires_grad=True)),
                  (nn.BatchNorm1d(3, momentum=None), gc.zeros(0, 3, 4, requires_grad=True))]:
        y = bn(x)
        y.sum().backward()
        assert y.shape == x.shape and x.grad.shape == x.shape
        np.testing.assert_array_equal(bn.weight.grad.numpy(), np.zeros(3))
        np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
        assert bn.num_batches_tracked.item() == 1
    for m, x in [(nn.LayerNorm(5), gc.zeros(0, 5, requires_grad=True)),
                 (nn.GroupNorm(1, 3), gc.zeros(0, 3, 2, requires_grad=True))]:
        m(x).sum().backward()
        assert x.grad.shape == x.shape
        np.testing.assert_array_equal(m.bias.grad.numpy(), np.zeros(m.bias.shape))


def test_batchnorm_affine_flags_and_parameters():
    bn = nn.BatchNorm1d(4, affine=False)
    assert bn.weight is None and bn.bias is None and list(bn.parameters()) == []
    bn = nn.BatchNorm1d(4, bias=False)
    assert bn.bias is None and [n for n, _ in bn.named_parameters()] == ["weight"]
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.detach().numpy(), np.ones(4))
    np.testing.assert_array_equal(bn.bias.detach().numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(4))
    bn(_t(_data((2, 4, 3, 3), np.float32)))
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(4))


# As torch 2.13 lists them for the same constructions (key, shape, dtype).
STATE_DICTS = [
    (lambda: nn.BatchNorm1d(3), [("weight", (3,), "float32"), ("bias", (3,), "float32"),
                                 ("running_mean", (3,), "float32"),
                                 ("running_var", (3,), "float32"),
                                 ("num_batches_tracked", (), "int64")]),
    (lambda: nn.BatchNorm2d(5, affine=False), [("running_mean", (5,), "float32"),
                                               ("running_var", (5,), "float32"),
                                               ("num_batches_tracked", (), "int64")]),
    (lambda: nn.BatchNorm2d(5, bias=False).double(),
     [("weight", (5,), "float64"), ("running_mean", (5,), "float64"),
      ("running_var", (5,), "float64"), ("num_batches_tracked", (), "int64")]),
    (lambda: nn.BatchNorm1d(3, track_running_stats=False), [("weight", (3,), "float32"),
                                                            ("bias", (3,), "float32")]),
    (lambda: nn.LayerNorm((2, 3)), [("weight", (2, 3), "float32"), ("bias", (2, 3), "float32")]),
    (lambda: nn.LayerNorm(4, elementwise_affine=False), []),
    (lambda: nn.LayerNorm(4, bias=False), [("weight", (4,), "float32")]),
    (lambda: nn.GroupNorm(2, 6), [("weight", (6,), "float32"), ("bias", (6,), "float32")]),
    (lambda: nn.GroupNorm(2, 6, affine=False), []),
]


@pytest.mark.parametrize("make,want", STATE_DICTS)
def test_state_dict_keys_shapes_dtypes_match_torch(make, want):
    sd = make().state_dict()
    assert [(k, tuple(v.shape), str(v.numpy().dtype)) for k, v in sd.items()] == want


def test_reprs_match_torch():
    assert repr(nn.BatchNorm1d(3)) == ("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, "
                                       "bias=True, track_running_stats=True)")
    assert repr(nn.BatchNorm2d(3, momentum=None, affine=False)) == (
        "BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
        "track_running_stats=True)")
    assert repr(nn.LayerNorm((2, 3))) == ("LayerNorm((2, 3), eps=1e-05, elementwise_affine=True, "
                                          "bias=True)")
    assert repr(nn.GroupNorm(2, 4, affine=False)) == ("GroupNorm(2, 4, eps=1e-05, affine=False, "
                                                      "bias=False)")


def test_module_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(gc.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(gc.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input with 3 channels \(dim 1\), "
                                         r"got input of shape \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(gc.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"LayerNorm: expected input with shape \[\*, 4\]"):
        nn.LayerNorm(4)(gc.zeros(2, 3))
    with pytest.raises(ValueError, match=r"GroupNorm: expected input of shape \(N, 4, \*\), got "
                                         r"input of shape \(2, 6, 3\)"):
        nn.GroupNorm(2, 4)(gc.zeros(2, 6, 3))
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups"):
        nn.GroupNorm(3, 4)


def test_norm_layers_train_in_a_network():
    gc.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Unflatten(1, (2, 4)),
                        nn.GroupNorm(2, 2), nn.LayerNorm(4), nn.Flatten(), nn.Linear(8, 2))
    opt = gc.optim.SGD(net.parameters(), lr=0.1)
    x, y = _t(_data((32, 4), np.float32)), gc.tensor(np.arange(32) % 2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] and net[1].num_batches_tracked.item() == 30


# ---- parity with torch (optional) ----------------------------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: the parity check is "
                                               "optional (numpy references above are the oracle)")


@pytest.mark.parametrize("kind,shape,kw", [
    ("BatchNorm1d", (6, 3), {}), ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
    ("BatchNorm2d", (3, 3, 4, 5), {}), ("BatchNorm2d", (2, 3, 2, 2), {"momentum": None}),
    ("BatchNorm2d", (2, 3, 2, 2), {"track_running_stats": False}),
    ("LayerNorm", (4, 3, 5), {}), ("GroupNorm", (4, 6, 5), {})])
def test_parity_with_torch_over_three_training_steps(kind, shape, kw):
    torch = _torch()
    args = {"BatchNorm1d": (3,), "BatchNorm2d": (3,), "LayerNorm": ((3, 5),),
            "GroupNorm": (3, 6)}[kind]
    m, tm = getattr(nn, kind)(*args, **kw).double(), getattr(torch.nn, kind)(*args, **kw).double()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p, tp in zip(m.parameters(), tm.parameters()):
            v = rng.standard_normal(tuple(p.shape))
            p.data.copy_(gc.tensor(v))
            tp.copy_(torch.from_numpy(v))
    opt, topt = gc.optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        xg, xt = _t(x, True), torch.tensor(x, requires_grad=True)
        y, ty = m(xg), tm(xt)
        (y * y * y).sum().backward()
        (ty * ty * ty).sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-9)
        for p, tp in zip(m.parameters(), tm.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-9)
        opt.step(), topt.step()
        opt.zero_grad(), topt.zero_grad()
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert str(sd[k].numpy().dtype) == str(tsd[k].numpy().dtype), k
        np.testing.assert_allclose(sd[k].numpy(), tsd[k].numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
    m.eval(), tm.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(m(_t(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-10)


def test_torch_state_dict_loads_into_batchnorm():
    torch = _torch()
    tm = torch.nn.BatchNorm2d(4)
    tm(torch.randn(3, 4, 2, 2) * 3 + 1)
    m = nn.BatchNorm2d(4)
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert m.num_batches_tracked.item() == 1 and m.num_batches_tracked.dtype == gc.int64
    np.testing.assert_array_equal(m.running_var.numpy(), tm.running_var.numpy())
