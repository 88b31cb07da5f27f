"""Losses: forward against numpy transcriptions of torch's formulas (float32 and float64),
gradients by gradcheck in float64 for every reduction, weights, ignore_index, smoothing."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck

REDUCTIONS = ["mean", "sum", "none"]


def _reduce(elem, reduction, denom=None):
    if reduction == "none":
        return elem
    if reduction == "sum":
        return elem.sum()
    return elem.sum() / (elem.size if denom is None else denom)


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


# ---- numpy references (torch's definitions) ---------------------------------------------
def ce_ref(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch: (1-eps) * nll(logp, t, w) + eps/C * smooth, smooth_i = -sum_c w_c logp_ic."""
    axis = 1 if x.ndim > 1 else 0
    C = x.shape[axis]
    logp = np.moveaxis(_log_softmax(x, axis), axis, -1).reshape(-1, C)
    tf = np.asarray(t).reshape(-1)
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = tf != ignore_index
    ts = np.where(keep, tf, 0)
    nll = np.where(keep, -w[ts] * logp[np.arange(len(tf)), ts], 0.0)
    smooth = np.where(keep, -(logp * w).sum(-1), 0.0)
    elem = (1 - label_smoothing) * nll + label_smoothing / C * smooth
    return _reduce(elem.reshape(np.shape(t)), reduction, denom=(w[ts] * keep).sum())


def ce_soft_ref(x, y, weight=None, reduction="mean", label_smoothing=0.0):
    axis = 1 if x.ndim > 1 else 0
    C = x.shape[axis]
    q = y * (1 - label_smoothing) + label_smoothing / C
    wshape = [1] * x.ndim
    wshape[axis] = C
    w = np.ones(wshape) if weight is None else np.asarray(weight).reshape(wshape)
    elem = -(w * q * _log_softmax(x, axis)).sum(axis)
    return _reduce(elem, reduction, denom=x.size / C)


def nll_ref(x, t, weight=None, ignore_index=-100, reduction="mean"):
    axis = 1 if x.ndim > 1 else 0
    C = x.shape[axis]
    lp = np.moveaxis(x, axis, -1).reshape(-1, C)
    tf = np.asarray(t).reshape(-1)
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = tf != ignore_index
    ts = np.where(keep, tf, 0)
    elem = np.where(keep, -w[ts] * lp[np.arange(len(tf)), ts], 0.0)
    return _reduce(elem.reshape(np.shape(t)), reduction, denom=(w[ts] * keep).sum())


def bce_ref(p, y, weight=None, reduction="mean"):
    elem = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    return _reduce(elem * (1 if weight is None else weight), reduction)


def bce_logits_ref(x, y, weight=None, reduction="mean", pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    log_sig, log_1m_sig = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    elem = -(pw * y * log_sig + (1 - y) * log_1m_sig)
    return _reduce(elem * (1 if weight is None else weight), reduction)


def smooth_l1_ref(a, b, reduction="mean", beta=1.0):
    d = np.abs(a - b)
    elem = np.where(d < beta, 0.5 * d * d / max(beta, 1e-300), d - 0.5 * beta)
    return _reduce(elem, reduction)


def huber_ref(a, b, reduction="mean", delta=1.0):
    d = np.abs(a - b)
    return _reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


# ---- cross_entropy --------------------------------------------------------------------------
CE_SHAPES = [((6, 5), (6,)), ((3, 4, 2, 3), (3, 2, 3)), ((5,), ()), ((1, 1), (1,))]


def _ce_case(xshape, tshape, seed=0, ignore=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xshape) * 2
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    t = rng.integers(0, C, tshape)
    if ignore and t.size > 1:
        t.reshape(-1)[1] = -100
    return x, t, rng.random(C) + 0.5


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("xshape,tshape", CE_SHAPES)
def test_cross_entropy_forward_and_gradcheck(xshape, tshape, weighted, label_smoothing, reduction):
    x, t, w = _ce_case(xshape, tshape)
    w = w if weighted else None
    ref = ce_ref(x, t, w, -100, reduction, label_smoothing)
    for dt, tol in ((gc.float32, 1e-5), (gc.float64, 1e-12)):
        out = F.cross_entropy(gc.tensor(x, dtype=dt), gc.tensor(t), weight=w,
                              reduction=reduction, label_smoothing=label_smoothing)
        assert out.dtype == dt and out.shape == np.shape(ref)
        np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)
    xg = gc.tensor(x, dtype=gc.float64, requires_grad=True)
    assert gradcheck(lambda a: F.cross_entropy(a, gc.tensor(t), weight=w, reduction=reduction,
                                               label_smoothing=label_smoothing), [xg])


def test_cross_entropy_custom_ignore_index_and_all_ignored():
    x, t, _ = _ce_case((5, 4), (5,), ignore=False)
    t[2] = 3
    out = F.cross_entropy(gc.tensor(x), gc.tensor(t), ignore_index=3)
    np.testing.assert_allclose(out.numpy(), ce_ref(x, t, ignore_index=3), rtol=1e-5)
    xg = gc.tensor(x, requires_grad=True)
    F.cross_entropy(xg, gc.tensor(t), ignore_index=3).backward()
    assert np.all(xg.grad.numpy()[t == 3] == 0)
    allign = F.cross_entropy(gc.tensor(x), gc.full((5,), -100))
    assert np.isnan(allign.item())  # 0 / 0, as torch
    assert F.cross_entropy(gc.tensor(x), gc.full((5,), -100), reduction="sum").item() == 0.0


def test_cross_entropy_backward_is_softmax_minus_smoothed_onehot_over_n():
    x, t, _ = _ce_case((7, 4), (7,), ignore=False)
    xg = gc.tensor(x, dtype=gc.float64, requires_grad=True)
    F.cross_entropy(xg, gc.tensor(t), label_smoothing=0.1).backward()
    p = np.exp(_log_softmax(x, 1))
    target = np.full((7, 4), 0.1 / 4)
    target[np.arange(7), t] += 0.9
    np.testing.assert_allclose(xg.grad.numpy(), (p - target) / 7, atol=1e-14)


def test_cross_entropy_is_one_fused_primitive():
    x, t, _ = _ce_case((4, 3), (4,))
    xg = gc.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xg, gc.tensor(t))
    assert loss.grad_fn.name() == "cross_entropy"
    assert loss.grad_fn.parents == (xg,)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets(weighted, label_smoothing, reduction):
    rng = np.random.default_rng(3)
    for xshape in [(4, 3), (2, 3, 2, 2), (3,)]:
        x = rng.standard_normal(xshape)
        axis = 1 if len(xshape) > 1 else 0
        y = rng.random(xshape)
        y /= y.sum(axis=axis, keepdims=True)
        w = rng.random(3) + 0.5 if weighted else None
        ref = ce_soft_ref(x, y, w, reduction, label_smoothing)
        out = F.cross_entropy(gc.tensor(x), gc.tensor(y), weight=w, reduction=reduction,
                              label_smoothing=label_smoothing)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
        assert gradcheck(lambda a: F.cross_entropy(a, gc.tensor(y), weight=w, reduction=reduction,
                                                   label_smoothing=label_smoothing),
                         [gc.tensor(x, requires_grad=True)])


def test_cross_entropy_extreme_logits_stay_finite():
    x = gc.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]])
    out = F.cross_entropy(x, gc.tensor([0, 0]), reduction="none")
    np.testing.assert_allclose(out.numpy(), [0.0, 2e4], rtol=1e-6)


def test_cross_entropy_errors():
    x = gc.randn(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, gc.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, gc.tensor([0, -1, 1]))
    with pytest.raises(TypeError, match="int64"):
        F.cross_entropy(x, gc.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2,\)"):
        F.cross_entropy(x, gc.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, gc.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, gc.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, gc.tensor([0, 1, 2]), weight=gc.ones(3))
    with pytest.raises(TypeError, match="float"):
        F.cross_entropy(gc.tensor([[1, 2]]), gc.tensor([0]))


# ---- nll_loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("xshape,tshape", CE_SHAPES)
def test_nll_loss(xshape, tshape, weighted, reduction):
    x, t, w = _ce_case(xshape, tshape, seed=1)
    w = w if weighted else None
    ref = nll_ref(x, t, w, -100, reduction)
    out = F.nll_loss(gc.tensor(x, dtype=gc.float32), gc.tensor(t), weight=w, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda a: F.nll_loss(a, gc.tensor(t), weight=w, reduction=reduction),
                     [gc.tensor(x, requires_grad=True)])


def test_nll_of_log_softmax_equals_cross_entropy():
    x, t, w = _ce_case((6, 5), (6,))
    a = F.nll_loss(F.log_softmax(gc.tensor(x), dim=1), gc.tensor(t), weight=w)
    b = F.cross_entropy(gc.tensor(x), gc.tensor(t), weight=w)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


# ---- binary cross-entropy -----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(weighted, reduction):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, (4, 3))
    y = rng.random((4, 3))
    w = rng.random(3) + 0.5 if weighted else None
    ref = bce_ref(p, y, w, reduction)
    out = F.binary_cross_entropy(gc.tensor(p, dtype=gc.float32), gc.tensor(y, dtype=gc.float32),
                                 weight=w if w is None else w.astype(np.float32), reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
                     [gc.tensor(p, requires_grad=True), gc.tensor(y, requires_grad=True)])


def test_binary_cross_entropy_clamps_logs_at_minus_100():
    out = F.binary_cross_entropy(gc.tensor([0.0, 1.0, 0.0]), gc.tensor([1.0, 0.0, 0.0]),
                                 reduction="none")
    np.testing.assert_allclose(out.numpy(), [100.0, 100.0, 0.0])
    p = gc.tensor([0.0, 1.0], dtype=gc.float64, requires_grad=True)
    F.binary_cross_entropy(p, gc.tensor([0.5, 0.5], dtype=gc.float64), reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), [-0.5e12, 0.5e12])  # (p - y) / max(p(1-p), 1e-12)


def test_binary_cross_entropy_errors():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(gc.tensor([0.5, 1.5]), gc.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="size"):
        F.binary_cross_entropy(gc.tensor([0.5, 0.5]), gc.tensor([[0.0, 1.0]]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos", [False, True])
def test_binary_cross_entropy_with_logits(pos, weighted, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3)) * 4
    x[0, 0] = 60.0  # stable far out on both sides
    x[1, 1] = -60.0
    y = rng.random((5, 3))
    w = rng.random(3) + 0.5 if weighted else None
    pw = rng.random(3) * 3 if pos else None
    ref = bce_logits_ref(x, y, w, reduction, pw)
    out = F.binary_cross_entropy_with_logits(gc.tensor(x), gc.tensor(y), weight=w,
                                             reduction=reduction, pos_weight=pw)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5)
    args = [gc.tensor(x, dtype=gc.float64, requires_grad=True),
            gc.tensor(y, dtype=gc.float64, requires_grad=True)]
    if pos:
        args.append(gc.tensor(pw, dtype=gc.float64, requires_grad=True))
    assert gradcheck(lambda a, b, *c: F.binary_cross_entropy_with_logits(
        a, b, weight=w, reduction=reduction, pos_weight=c[0] if c else None), args)


def test_bce_with_logits_gradient_is_sigmoid_minus_target():
    x = gc.tensor([-2.0, 0.0, 3.0], dtype=gc.float64, requires_grad=True)
    y = np.array([0.0, 1.0, 0.3])
    F.binary_cross_entropy_with_logits(x, gc.tensor(y), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-x.detach().numpy())) - y)


# ---- regression losses -----------------------------------------------------------------------
def _pair(seed=6, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    a[0, 0] = b[0, 0]  # a tie: the kink of |d|
    a[1, 0] = b[1, 0] + 0.5  # exactly at beta for beta = 0.5
    return a, b


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,ref,kw", [
    ("mse", F.mse_loss, lambda a, b, r: _reduce((a - b) ** 2, r), {}),
    ("l1", F.l1_loss, lambda a, b, r: _reduce(np.abs(a - b), r), {}),
    ("smooth_l1", F.smooth_l1_loss, lambda a, b, r: smooth_l1_ref(a, b, r, 1.0), {}),
    ("smooth_l1_b0.5", F.smooth_l1_loss, lambda a, b, r: smooth_l1_ref(a, b, r, 0.5), {"beta": 0.5}),
    ("smooth_l1_b0", F.smooth_l1_loss, lambda a, b, r: smooth_l1_ref(a, b, r, 0.0), {"beta": 0.0}),
    ("huber", F.huber_loss, lambda a, b, r: huber_ref(a, b, r, 0.7), {"delta": 0.7}),
])
def test_regression_losses(name, fn, ref, kw, reduction):
    a, b = _pair()
    for dt, tol in ((gc.float32, 1e-5), (gc.float64, 1e-12)):
        out = fn(gc.tensor(a, dtype=dt), gc.tensor(b, dtype=dt), reduction=reduction, **kw)
        np.testing.assert_allclose(out.numpy(), ref(a, b, reduction), rtol=tol, atol=tol)
    # gradcheck away from the kinks (finite differences straddle them)
    rng = np.random.default_rng(7)
    a2, b2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert gradcheck(lambda x, y: fn(x, y, reduction=reduction, **kw),
                     [gc.tensor(a2, requires_grad=True), gc.tensor(b2, requires_grad=True)])


def test_l1_and_smooth_l1_gradient_at_ties_is_zero():
    a = gc.tensor([1.0, 2.0], requires_grad=True)
    F.l1_loss(a, gc.tensor([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 1.0])
    a = gc.tensor([1.0, 2.0], requires_grad=True)
    F.smooth_l1_loss(a, gc.tensor([1.0, 0.0]), reduction="sum", beta=0.0).backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 1.0])


def test_mse_broadcasts_and_grads_reduce_to_shapes():
    a = gc.randn(4, 3, dtype=gc.float64, requires_grad=True)
    b = gc.randn(3, dtype=gc.float64, requires_grad=True)
    assert gradcheck(lambda x, y: F.mse_loss(x, y), [a, b])


def test_regression_loss_errors():
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(gc.zeros(2), gc.zeros(2), beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(gc.zeros(2), gc.zeros(2), delta=0.0)
    with pytest.raises(ValueError, match="not broadcastable"):
        F.mse_loss(gc.zeros(2), gc.zeros(3))


def test_l1_penalty_is_plain_sum_of_abs():
    p1 = gc.tensor([[1.0, -2.0]], dtype=gc.float64, requires_grad=True)
    p2 = gc.tensor([-0.5], dtype=gc.float64, requires_grad=True)
    pen = F.l1_penalty([p1, p2])
    assert pen.item() == 3.5
    pen.backward()
    np.testing.assert_allclose(p1.grad.numpy(), [[1.0, -1.0]])
    assert F.l1_penalty([]).item() == 0.0


# ---- loss modules -------------------------------------------------------------------------------
def test_loss_modules_match_functional_and_register_weights():
    x, t, w = _ce_case((6, 5), (6,), ignore=False)
    ce = gc.nn.CrossEntropyLoss(weight=gc.tensor(w), ignore_index=2, label_smoothing=0.1,
                                reduction="sum")
    ref = ce_ref(x, t, w, 2, "sum", 0.1)
    np.testing.assert_allclose(ce(gc.tensor(x, dtype=gc.float64), gc.tensor(t)).numpy(), ref,
                               rtol=1e-12)
    assert list(ce.state_dict()) == ["weight"]
    assert list(gc.nn.CrossEntropyLoss().state_dict()) == []
    assert list(gc.nn.BCEWithLogitsLoss(pos_weight=gc.ones(3)).state_dict()) == ["pos_weight"]
    a, b = _pair()
    pairs = [(gc.nn.MSELoss(), F.mse_loss), (gc.nn.L1Loss(reduction="none"), F.l1_loss),
             (gc.nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss), (gc.nn.HuberLoss(delta=2.0), F.huber_loss)]
    for mod, fn in pairs:
        kw = {k: getattr(mod, k) for k in ("beta", "delta") if hasattr(mod, k)}
        np.testing.assert_array_equal(mod(gc.tensor(a), gc.tensor(b)).numpy(),
                                      fn(gc.tensor(a), gc.tensor(b), reduction=mod.reduction, **kw).numpy())
    lp = F.log_softmax(gc.tensor(x), dim=1)
    np.testing.assert_allclose(gc.nn.NLLLoss()(lp, gc.tensor(t)).numpy(), nll_ref(lp.numpy(), t),
                               rtol=1e-6)
    p = np.random.default_rng(0).uniform(0.1, 0.9, (3, 2))
    np.testing.assert_allclose(gc.nn.BCELoss()(gc.tensor(p), gc.tensor(1 - p)).numpy(),
                               bce_ref(p, 1 - p), rtol=1e-6)
    np.testing.assert_allclose(gc.nn.BCEWithLogitsLoss()(gc.tensor(p), gc.tensor(1 - p)).numpy(),
                               bce_logits_ref(p, 1 - p), rtol=1e-6)
    assert repr(ce) == "CrossEntropyLoss()"
    with pytest.raises(ValueError, match="reduction"):
        gc.nn.MSELoss(reduction="avg")


def test_cross_entropy_trains_a_linear_classifier():
    gc.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = gc.nn.Linear(2, 2)
    first = None
    for _ in range(50):
        loss = F.cross_entropy(model(gc.tensor(X)), gc.tensor(y))
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with gc.no_grad():  # in-place on a leaf that requires grad needs no_grad (as torch)
            for p in model.parameters():
                p.copy_(p.detach() - p.grad * 0.5)
    assert loss.item() < 0.5 * first
