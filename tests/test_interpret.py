"""gc.interpret: saliency against a hand-written autograd gradient, integrated gradients
(exact for a linear model, completeness within 1% for a digits MLP and CNN), SmoothGrad,
Grad-CAM against a numpy computation, models and inputs left untouched, plots, errors."""
import copy

import numpy as np
import pytest

import gradcore as gc
from gradcore import interpret, nn
from gradcore.nn import functional as F


def _train(model, x, y, epochs):
    opt = gc.optim.Adam(model.parameters(), lr=1e-2)
    x, y = gc.tensor(x), gc.tensor(y)
    for _ in range(epochs):
        for i in range(0, len(x), 128):
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + 128]), y[i:i + 128]).backward()
            opt.step()
    return model


@pytest.fixture(scope="module")
def digits():
    xtr, ytr, xte, yte = gc.data.load_digits()
    return xtr, ytr, xte[:48], yte[:48]


@pytest.fixture(scope="module")
def mlp(digits):
    """The demo's MLP (python -m gradcore demo), briefly trained."""
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    return _train(model, digits[0], digits[1], 8)


@pytest.fixture(scope="module")
def cnn(digits):
    """The demo's CNN (demo --model cnn), briefly trained."""
    gc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                          nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 16, 10))
    return _train(model, digits[0].reshape(-1, 1, 8, 8), digits[1], 3).eval()


def _hand_grad(model, x, target):
    """∂ model(x)[i, target_i] / ∂ x by plain autograd on a copy of the model in eval mode."""
    m = copy.deepcopy(model).eval()
    xin = gc.tensor(np.asarray(x, np.float32), requires_grad=True)
    out = m(xin)
    t = np.broadcast_to(target, (len(x),))
    out[np.arange(len(x)), t].sum().backward()
    return xin.grad.numpy()


def _scores(model, x, t):
    m = copy.deepcopy(model).eval()
    with gc.no_grad():
        return m(gc.tensor(np.asarray(x, np.float32))).numpy()[np.arange(len(x)), t]


def _state(model):
    return {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()}


def test_saliency_is_abs_gradient(mlp, digits):
    x, t = digits[2], digits[3]
    s = interpret.saliency(mlp, x, t)
    assert s.shape == x.shape and s.dtype == np.float64
    np.testing.assert_array_equal(s, np.abs(_hand_grad(mlp, x, t)))
    one = interpret.saliency(mlp, gc.tensor(x[:3]), 4)        # one int for every sample
    np.testing.assert_array_equal(one, np.abs(_hand_grad(mlp, x[:3], 4)))


def test_integrated_gradients_linear_model_is_exact():
    gc.manual_seed(0)
    model = nn.Linear(5, 3).double()
    w = model.weight.detach().numpy()
    rng = np.random.default_rng(0)
    x, base = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    t = np.array([0, 2, 1, 2])
    for method in ("gausslegendre", "riemann_middle", "riemann_trapezoid", "riemann_left"):
        for b in (None, base, 0.5):
            attr, delta = interpret.integrated_gradients(model, x, t, baseline=b, steps=7,
                                                         method=method,
                                                         return_convergence_delta=True)
            ref_b = 0.0 if b is None else b
            np.testing.assert_allclose(attr, (x - ref_b) * w[t], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(delta, 0, atol=1e-12)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_integrated_gradients_completeness(which, request, digits):
    model = request.getfixturevalue(which)
    x = digits[2] if which == "mlp" else digits[2][:32].reshape(-1, 1, 8, 8)
    with gc.no_grad():                        # explain the prediction (|f(x) - f(0)| not ~0)
        t = model.eval()(gc.tensor(x)).argmax(1).numpy()
    attr, delta = interpret.integrated_gradients(model, x, t, return_convergence_delta=True)
    assert attr.shape == x.shape and delta.shape == (len(x),)
    gap = _scores(model, x, t) - _scores(model, np.zeros_like(x), t)
    np.testing.assert_allclose(delta, attr.reshape(len(x), -1).sum(1) - gap, atol=1e-4)
    assert np.all(np.abs(delta) <= 0.01 * np.abs(gap))
    if which == "mlp":  # path points go through the model in chunks; their size does not matter
        again = interpret.integrated_gradients(model, x, t, internal_batch_size=100)
        np.testing.assert_allclose(again, attr, rtol=1e-5, atol=1e-7)


def test_integrated_gradients_converges_for_a_smooth_model():
    gc.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 4)).double()
    x = np.random.default_rng(1).standard_normal((5, 6))
    a50, d50 = interpret.integrated_gradients(model, x, 1, return_convergence_delta=True)
    a200 = interpret.integrated_gradients(model, x, 1, steps=200)
    np.testing.assert_allclose(a50, a200, rtol=1e-9, atol=1e-12)
    assert np.all(np.abs(d50) < 1e-10)


def test_smoothgrad(mlp, digits):
    x, t = digits[2][:6], digits[3][:6]
    plain = interpret.smoothgrad(mlp, x, t, n_samples=10, noise_level=0.0)
    # float32: a batch of 60 rows may sum in another order than one of 6
    np.testing.assert_allclose(plain, _hand_grad(mlp, x, t), rtol=1e-5, atol=1e-6)
    a = interpret.smoothgrad(mlp, x, t, n_samples=20, seed=1)
    b = interpret.smoothgrad(mlp, x, t, n_samples=20, seed=1, internal_batch_size=12)
    c = interpret.smoothgrad(mlp, x, t, n_samples=20, seed=2)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert not np.allclose(a, c) and not np.allclose(a, plain)


def _bilinear_matrix(n_out, n_in):
    """R (n_out, n_in) with out = R @ in: torch's align_corners=False source index
    s = (i + 0.5) · n_in / n_out - 0.5, clamped at 0, linear between floor(s) and floor(s)+1."""
    r = np.zeros((n_out, n_in))
    for i in range(n_out):
        s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(int(np.floor(s)), n_in - 1)
        hi = min(lo + 1, n_in - 1)
        r[i, lo] += 1 - (s - lo)
        r[i, hi] += s - lo
    return r


def _numpy_grad_cam(model, layer, x, t):
    """Activations by a forward hook, their gradient by retain_grad, then numpy."""
    m = copy.deepcopy(model).eval()
    mod = dict(m.named_modules())[layer]
    got = {}

    def hook(module, args, out):
        out.retain_grad()
        got["A"] = out

    h = mod.register_forward_hook(hook)
    out = m(gc.tensor(np.asarray(x, np.float32), requires_grad=True))
    h.remove()
    out[np.arange(len(x)), t].sum().backward()
    a, g = got["A"].detach().numpy().astype(np.float64), got["A"].grad.numpy()
    cam = np.maximum((g.mean(axis=(2, 3))[:, :, None, None] * a).sum(1), 0)
    rh, rw = _bilinear_matrix(x.shape[2], cam.shape[1]), _bilinear_matrix(x.shape[3], cam.shape[2])
    return np.stack([rh @ c @ rw.T for c in cam])


def test_grad_cam_matches_numpy(cnn, digits):
    x, t = digits[2].reshape(-1, 1, 8, 8), digits[3]
    for layer in ("6", "5", cnn[6]):          # pooled 4x4 (upsampled), 8x8, a module object
        cam = interpret.grad_cam(cnn, layer, x, t)
        name = layer if isinstance(layer, str) else "6"
        assert cam.shape == (len(x), 8, 8) and cam.dtype == np.float64
        np.testing.assert_allclose(cam, _numpy_grad_cam(cnn, name, x, t), rtol=1e-5,
                                   atol=1e-7)
        assert cam.min() >= 0 and cam.max() > 0


def test_grad_cam_non_square_upsampling():
    gc.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),
                          nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(4 * 3 * 5, 5))
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 10)).astype(np.float32)
    cam = interpret.grad_cam(model, "3", x, [0, 4, 2])
    assert cam.shape == (3, 6, 10)
    np.testing.assert_allclose(cam, _numpy_grad_cam(model, "3", x, np.array([0, 4, 2])),
                               rtol=1e-5, atol=1e-7)


def test_models_and_inputs_untouched(cnn, digits):
    x = gc.tensor(digits[2][:4].reshape(-1, 1, 8, 8), requires_grad=True)
    x.grad = gc.ones(4, 1, 8, 8)
    cnn.train()
    cnn.zero_grad()
    before = _state(cnn)
    calls = [lambda: interpret.saliency(cnn, x, 1),
             lambda: interpret.integrated_gradients(cnn, x, 1, steps=4),
             lambda: interpret.smoothgrad(cnn, x, 1, n_samples=3),
             lambda: interpret.grad_cam(cnn, "6", x, 1)]
    for call in calls:
        out = call()
        assert _state(cnn) == before          # batch-norm statistics too: eval mode
        assert all(m.training for m in cnn.modules())
        assert all(p.grad is None for p in cnn.parameters())
        np.testing.assert_array_equal(x.grad.numpy(), np.ones((4, 1, 8, 8)))
        assert out.shape[0] == 4
    assert not cnn[6]._forward_hooks
    cnn.eval()


def test_numpy_float64_input_on_a_float32_model(mlp, digits):
    x, t = digits[2][:5].astype(np.float64), digits[3][:5]
    np.testing.assert_array_equal(interpret.saliency(mlp, x, t),
                                  interpret.saliency(mlp, x.astype(np.float32), t.tolist()))


def test_plot_attribution(mlp, cnn, digits, tmp_path):
    x, t = digits[2][:5], digits[3][:5]
    ig = interpret.integrated_gradients(mlp, x, t, steps=8)
    cam = interpret.grad_cam(cnn, "6", x.reshape(-1, 1, 8, 8), t)
    rgb = np.random.default_rng(0).random((2, 3, 6, 6))
    for name, xs, at in (("flat", x, ig), ("cam", x.reshape(-1, 1, 8, 8), cam),
                         ("rgb", rgb, rgb - 0.5)):
        p = tmp_path / f"{name}.png"
        assert interpret.plot_attribution(xs, at, str(p), titles=[str(v) for v in t]) == str(p)
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="plot_attribution: x has 5 samples, attributions 4"):
        interpret.plot_attribution(x, ig[:4], str(tmp_path / "bad.png"))
    with pytest.raises(ValueError, match="plot_attribution: 1 titles for 5 samples"):
        interpret.plot_attribution(x, ig, str(tmp_path / "bad.png"), titles=["a"])


def test_errors(mlp, cnn, digits):
    x, t = digits[2][:4], digits[3][:4]
    img = x.reshape(-1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"saliency: target has shape \(3,\) for 4 samples"):
        interpret.saliency(mlp, x, t[:3])
    with pytest.raises(TypeError, match="integrated_gradients: target must be an int"):
        interpret.integrated_gradients(mlp, x, 1.5)
    with pytest.raises(ValueError, match=r"smoothgrad: target values must be in \[0, 10\)"):
        interpret.smoothgrad(mlp, x, 10, n_samples=2)
    with pytest.raises(ValueError, match="saliency: x must have a batch dimension"):
        interpret.saliency(mlp, x[0], 1)
    with pytest.raises(ValueError, match="grad_cam: layer 'conv9' not found"):
        interpret.grad_cam(cnn, "conv9", img, t)
    with pytest.raises(ValueError, match="grad_cam: layer Linear is not a module of the model"):
        interpret.grad_cam(cnn, nn.Linear(2, 2), img, t)
    with pytest.raises(TypeError, match="grad_cam: layer must be a module"):
        interpret.grad_cam(cnn, 3, img, t)
    with pytest.raises(ValueError, match=r"grad_cam: layer '9' outputs \(4, 10\); Grad-CAM "
                                         "needs a 4-D"):
        interpret.grad_cam(cnn, "9", img, t)
    assert not cnn[9]._forward_hooks
    with pytest.raises(ValueError, match="grad_cam: x must be a batch of images"):
        interpret.grad_cam(cnn, "6", x, t)
    with pytest.raises(ValueError, match="integrated_gradients: baseline of shape"):
        interpret.integrated_gradients(mlp, x, t, baseline=np.zeros(3))
    with pytest.raises(ValueError, match="integrated_gradients: method must be one of"):
        interpret.integrated_gradients(mlp, x, t, method="simpson")
    with pytest.raises(ValueError, match="integrated_gradients: steps must be"):
        interpret.integrated_gradients(mlp, x, t, steps=0)
    with pytest.raises(ValueError, match="smoothgrad: noise_level must be >= 0"):
        interpret.smoothgrad(mlp, x, t, noise_level=-1)
    with pytest.raises(ValueError, match=r"saliency: the model output must be \(N, classes\)"):
        interpret.saliency(nn.Flatten(0), x, 0)
