"""gc.diagnostics loss landscapes: the centre is the model's loss, the grid is the loss at
θ + α·δ + β·η (numpy reference for a linear model), filter normalisation, weights and modes
restored (also on errors), interpolate's endpoints, plots and error messages."""
import copy

import numpy as np
import pytest

import gradcore as gc
from gradcore import nn
from gradcore.diagnostics import (Landscape, interpolate, loss_landscape, plot_landscape)
from gradcore.diagnostics.landscape import filter_normalize
from gradcore.nn import functional as F


def _digits(n=120):
    x, y, _, _ = gc.data.load_digits()
    return x[:n], y[:n]


def _mlp(seed=0):
    gc.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(16, 10))


def _cnn(seed=0):
    gc.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 64, 10))


def _state(model):
    return {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()}


def _linear_regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, 4))
    y = rng.standard_normal((30, 2))
    model = nn.Linear(4, 2).double()
    return model, x, y


def _mse_at(w, b, x, y):
    return float(np.mean((x @ w.T + b - y) ** 2))


def test_center_is_the_model_loss_and_weights_come_back():
    x, y = _digits()
    model = _mlp()
    model.train()
    model(gc.tensor(x))                       # batch-norm statistics away from their init
    before = _state(model)
    res = loss_landscape(model, F.cross_entropy, (x, y), steps=7, span=0.5)
    assert isinstance(res, Landscape)
    assert _state(model) == before
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    ref = F.cross_entropy(model(gc.tensor(x)), gc.tensor(y)).item()
    assert res.center_loss == ref             # same float32 path, exactly
    assert res.losses[3, 3] == ref
    assert res.losses.shape == (7, 7) and res.losses.dtype == np.float64
    np.testing.assert_array_equal(res.alphas, np.linspace(-0.5, 0.5, 7))
    np.testing.assert_array_equal(res.betas, res.alphas)
    assert np.all(np.isfinite(res.losses))
    assert res.losses.max() > res.center_loss


def test_grid_matches_numpy_for_given_directions():
    model, x, y = _linear_regression()
    w, b = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    rng = np.random.default_rng(1)
    d1 = [rng.standard_normal((2, 4)), rng.standard_normal(2)]
    d2 = rng.standard_normal(10)              # flat form, parameters in order
    res = loss_landscape(model, F.mse_loss, (x, y), steps=5, span=2.0, directions=(d1, d2))
    e2 = [d2[:8].reshape(2, 4), d2[8:]]
    for i, a in enumerate(res.alphas):
        for j, c in enumerate(res.betas):
            ref = _mse_at(w + a * d1[0] + c * e2[0], b + a * d1[1] + c * e2[1], x, y)
            np.testing.assert_allclose(res.losses[i, j], ref, rtol=1e-12)
    assert res.kind == "given"


def test_one_dimensional_slice():
    model, x, y = _linear_regression()
    w, b = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    res = loss_landscape(model, F.mse_loss, (x, y), steps=9, dims=1, directions="random",
                         seed=3)
    assert res.betas is None and res.dims == 1
    assert res.alphas.shape == (9,) and res.losses.shape == (9,)
    (dw, db), = res.directions
    for a, loss in zip(res.alphas, res.losses):
        np.testing.assert_allclose(loss, _mse_at(w + a * dw, b + a * db, x, y), rtol=1e-12)
    assert np.any(db != 0)                    # 'random' moves the biases too
    # a quadratic along a line: second differences are constant
    np.testing.assert_allclose(np.diff(res.losses, 2), np.diff(res.losses, 2)[0], rtol=1e-8)


def test_filter_normalisation():
    for model in (_mlp(), _cnn()):
        res = loss_landscape(model, F.cross_entropy, _batch_for(model), steps=3)
        params = list(model.parameters())
        for d in res.directions:
            for p, di in zip(params, d):
                w = p.detach().numpy()
                assert di.shape == w.shape and di.dtype == w.dtype
                if w.ndim == 1:               # biases and norm scales stay put
                    assert not np.any(di)
                    continue
                np.testing.assert_allclose(np.linalg.norm(di.reshape(len(di), -1), axis=1),
                                           np.linalg.norm(w.reshape(len(w), -1), axis=1),
                                           rtol=1e-5)
        assert not np.array_equal(res.directions[0][0], res.directions[1][0])
    zero = [np.zeros((3, 2))]
    w = gc.zeros(3, 2, requires_grad=True)
    np.testing.assert_array_equal(filter_normalize([np.ones((3, 2))], [w])[0], zero[0])


def _batch_for(model):
    x, y = _digits(40)
    return (x.reshape(-1, 1, 8, 8), y) if isinstance(model[0], nn.Conv2d) else (x, y)


def test_seed_reproducible_and_even_steps():
    x, y = _digits(40)
    model = _mlp()
    a = loss_landscape(model, F.cross_entropy, (x, y), steps=4, seed=7)
    b = loss_landscape(model, F.cross_entropy, (gc.tensor(x), gc.tensor(y)), steps=4, seed=7)
    c = loss_landscape(model, F.cross_entropy, (x, y), steps=4, seed=8)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.array_equal(a.losses, c.losses)
    assert 0.0 not in a.alphas


def test_weights_restored_when_the_loss_raises():
    x, y = _digits(40)
    model = _mlp()
    before = _state(model)
    calls = []

    def bad_loss(out, target):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return F.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(model, bad_loss, (x, y), steps=5)
    assert _state(model) == before
    assert all(m.training for m in model.modules())


def test_interpolate_endpoints_and_untouched_models():
    x, y = _digits()
    a, b = _mlp(0), _mlp(1)
    a.eval()
    b.train()
    sa, sb = _state(a), _state(b)
    alphas, losses = interpolate(a, b, F.cross_entropy, (x, y), steps=5)
    np.testing.assert_array_equal(alphas, np.linspace(0, 1, 5))
    assert _state(a) == sa and _state(b) == sb
    assert not any(m.training for m in a.modules()) and all(m.training for m in b.modules())
    b.eval()
    for model, loss in ((a, losses[0]), (b, losses[-1])):
        assert loss == F.cross_entropy(model(gc.tensor(x)), gc.tensor(y)).item()
    al2, l2 = interpolate(a, a, F.cross_entropy, (x, y), alphas=[-0.5, 0.5, 1.5])
    np.testing.assert_allclose(l2, losses[0], rtol=1e-6)   # the same model all along
    assert al2.tolist() == [-0.5, 0.5, 1.5]


def test_interpolate_matches_numpy():
    (ma, x, y), (mb, _, _) = _linear_regression(0), _linear_regression(1)
    wa, ba = ma.weight.detach().numpy(), ma.bias.detach().numpy()
    wb, bb = mb.weight.detach().numpy(), mb.bias.detach().numpy()
    alphas, losses = interpolate(ma, mb, F.mse_loss, (x, y), alphas=np.linspace(-0.5, 1.5, 9))
    for t, loss in zip(alphas, losses):
        ref = _mse_at((1 - t) * wa + t * wb, (1 - t) * ba + t * bb, x, y)
        np.testing.assert_allclose(loss, ref, rtol=1e-12)


def test_plots(tmp_path):
    x, y = _digits(40)
    model = _mlp()
    res = loss_landscape(model, F.cross_entropy, (x, y), steps=5)
    for kind in ("contour", "surface", "both"):
        p = tmp_path / f"{kind}.png"
        assert plot_landscape(res, str(p), kind=kind) == str(p)
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    line = loss_landscape(model, F.cross_entropy, (x, y), steps=5, dims=1)
    p = tmp_path / "line.png"
    assert line.plot(str(p)) == str(p) and p.stat().st_size > 0
    with pytest.raises(ValueError, match="plot_landscape: kind must be"):
        plot_landscape(res, str(p), kind="wire")
    assert "Landscape(5x5 grid" in repr(res)


@pytest.mark.parametrize("kwargs, err, match", [
    ({"dims": 3}, ValueError, "loss_landscape: dims must be 1 or 2"),
    ({"steps": 1}, ValueError, "loss_landscape: steps must be an int >= 2"),
    ({"span": 0}, ValueError, "loss_landscape: span must be > 0"),
    ({"directions": "pca"}, ValueError, "loss_landscape: directions must be 'filter'"),
    ({"directions": (np.zeros(3),)}, ValueError, "loss_landscape: directions must be"),
    ({"directions": (np.zeros(3), np.zeros(3))}, ValueError,
     r"loss_landscape: directions\[0\] must be a flat array"),
])
def test_argument_errors(kwargs, err, match):
    model, x, y = _linear_regression()
    with pytest.raises(err, match=match):
        loss_landscape(model, F.mse_loss, (x, y), **kwargs)


def test_batch_and_model_errors():
    model, x, y = _linear_regression()
    with pytest.raises(TypeError, match="loss_landscape: batch must be a tuple"):
        loss_landscape(model, F.mse_loss, x)
    with pytest.raises(ValueError, match="loss_landscape: loss_fn must return a scalar"):
        loss_landscape(model, lambda o, t: o - t, (x, y), steps=3)
    with pytest.raises(ValueError, match="interpolate: model_a and model_b differ"):
        interpolate(model, nn.Linear(4, 3).double(), F.mse_loss, (x, y))
    with pytest.raises(ValueError, match="interpolate: steps must be"):
        interpolate(model, copy.deepcopy(model), F.mse_loss, (x, y), steps=1)


def test_progress_bar_does_not_change_the_numbers(capsys):
    model, x, y = _linear_regression()
    quiet = loss_landscape(model, F.mse_loss, (x, y), steps=3, progress=False)
    shown = loss_landscape(model, F.mse_loss, (x, y), steps=3, progress=True)
    np.testing.assert_array_equal(quiet.losses, shown.losses)
    assert "loss_landscape" in capsys.readouterr().err
    _, l1 = interpolate(model, model, F.mse_loss, (x, y), steps=3, progress=True)
    np.testing.assert_allclose(l1, quiet.center_loss, rtol=1e-12)
