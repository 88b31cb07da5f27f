"""gc.diagnostics tools: gradient noise scale, lr_find, activation statistics, plots, and the
demo's --lr auto."""
import re
import warnings

import numpy as np
import pytest

import gradcore as gc
from gradcore import nn
from gradcore.diagnostics import activation_gradients, gradient_noise_scale, lr_find
from gradcore.nn import functional as F


# ---- gradient noise scale ---------------------------------------------------------------
class _Stream:
    """Fresh linear-regression batches y = x.w* + sigma*eps, x ~ N(0, I_d)."""

    def __init__(self, wstar, sigma, batch, seed):
        self.wstar, self.sigma, self.batch = wstar, sigma, batch
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        while True:
            x = self.rng.standard_normal((self.batch, len(self.wstar)))
            y = x @ self.wstar + self.sigma * self.rng.standard_normal(self.batch)
            yield gc.tensor(x), gc.tensor(y.reshape(-1, 1))


def _regression(d, delta_norm, seed=0):
    rng = np.random.default_rng(seed)
    wstar = rng.standard_normal(d)
    delta = rng.standard_normal(d)
    delta *= delta_norm / np.linalg.norm(delta)
    model = nn.Linear(d, 1, bias=False).double()
    with gc.no_grad():
        model.weight.copy_(gc.tensor((wstar + delta)[None, :]))
    return model, wstar


@pytest.mark.parametrize("d, sigma, delta_norm", [(10, 1.0, 1.0), (4, 2.0, 0.5)])
def test_noise_scale_matches_the_closed_form_on_linear_regression(d, sigma, delta_norm):
    # per-example gradient (x.delta - sigma*eps) x (times 2 for the MSE): G = 2 delta and, for
    # Gaussian x, Sigma = 4 (delta delta^T + |delta|^2 I + sigma^2 I), so
    # B_simple = tr(Sigma)/|G|^2 = ((d + 1)|delta|^2 + d sigma^2) / |delta|^2
    model, wstar = _regression(d, delta_norm)
    truth = ((d + 1) * delta_norm ** 2 + d * sigma ** 2) / delta_norm ** 2
    r = gradient_noise_scale(model, F.mse_loss, _Stream(wstar, sigma, 8, seed=1),
                             num_estimates=200, batches_per_estimate=8)
    assert r.b_simple == pytest.approx(truth, rel=0.10)
    assert r.ci_low < r.b_simple < r.ci_high
    assert r.critical_batch_size == r.b_simple and (r.small_batch, r.big_batch) == (8, 64)
    assert r.grad_sq == pytest.approx(4 * delta_norm ** 2, rel=0.15)


def test_noise_scale_leaves_model_grads_and_generators_alone():
    X, y, _, _ = gc.data.load_digits()
    loader = gc.data.DataLoader(gc.data.TensorDataset(X, y), batch_size=32, shuffle=True,
                                seed=3)
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 10))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    rng = gc.get_rng_state()
    lrng = loader._rng.bit_generator.state
    r = gradient_noise_scale(model, F.cross_entropy, loader, num_estimates=4,
                             batches_per_estimate=3)
    assert np.isfinite(r.b_simple) and r.num_estimates == 4
    assert all((p.detach().numpy() == b).all() for p, b in zip(model.parameters(), before))
    assert all(p.grad is None for p in model.parameters())
    assert gc.get_rng_state() == rng and loader._rng.bit_generator.state == lrng
    with pytest.raises(ValueError, match="num_estimates"):
        gradient_noise_scale(model, F.cross_entropy, loader, num_estimates=1)


def test_fit_track_noise_scale_records_per_epoch_without_changing_training():
    X, y, _, _ = gc.data.load_digits()

    def run(track):
        gc.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        loader = gc.data.DataLoader(gc.data.TensorDataset(X, y), batch_size=128, shuffle=True,
                                    seed=0)
        opt = gc.optim.Adam(model.parameters(), lr=1e-2)
        return gc.train.fit(model, F.cross_entropy, opt, loader, 2, progress=False,
                            track_noise_scale=track)
    a, b = run(False), run(True)
    assert a.loss == b.loss and a.noise_scale == []
    assert len(b.noise_scale) == 2 and all(np.isfinite(n.b_simple) for n in b.noise_scale)
    assert len(b.state_dict()["noise_scale"]) == 2


# ---- lr_find -----------------------------------------------------------------------------
def _digits(batch=64):
    X, y, Xt, yt = gc.data.load_digits()
    mu, sd = X.mean(0), X.std(0) + 0.01
    loader = gc.data.DataLoader(gc.data.TensorDataset((X - mu) / sd, y), batch_size=batch,
                                shuffle=True, seed=0)
    return loader, (Xt - mu) / sd, yt


def _snapshot(model, opt):
    params = [p.detach().numpy().copy() for p in model.parameters()]
    sd = opt.state_dict()
    state = {k: {n: (v.numpy().copy() if hasattr(v, "numpy") else v) for n, v in s.items()}
             for k, s in sd["state"].items()}
    return params, state, [dict(g) for g in sd["param_groups"]]


def _same(a, b):
    pa, sa, ga = a
    pb, sb, gb = b
    assert all(x.tobytes() == y.tobytes() for x, y in zip(pa, pb))
    assert sa.keys() == sb.keys() and ga == gb
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for n in sa[k]:
            assert np.asarray(sa[k][n]).tobytes() == np.asarray(sb[k][n]).tobytes()


@pytest.mark.parametrize("fresh", [True, False])
def test_lr_find_restores_model_and_optimizer_bit_identically(fresh):
    loader, _, _ = _digits()
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = gc.optim.Adam(model.parameters(), lr=3e-3)
    if not fresh:   # existing Adam state (moments, step counts) must come back exactly
        gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False)
    before = _snapshot(model, opt)
    hyper = opt.param_groups[0].hyper.copy()
    state_objs = {id(v) for s in opt.state.values() for v in s.values()}
    res = lr_find(model, F.cross_entropy, opt, loader, num_iter=60)
    _same(before, _snapshot(model, opt))
    assert (opt.param_groups[0].hyper == hyper).all()
    assert {id(v) for s in opt.state.values() for v in s.values()} == state_objs
    assert len(res.lrs) == len(res.losses) == len(res.raw_losses) <= 60
    assert res.lrs[0] == pytest.approx(1e-7) and np.all(np.diff(res.lrs) > 0)
    assert res.lrs[0] < res.suggested_lr < res.lrs[-1]


def test_lr_find_then_training_matches_training_without_it():
    def run(find):
        loader, _, _ = _digits()
        gc.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = gc.optim.Adam(model.parameters(), lr=3e-3)
        gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False)
        if find:
            lr_find(model, F.cross_entropy, opt, loader, num_iter=40)
        h = gc.train.fit(model, F.cross_entropy, opt, loader, 2, progress=False)
        return h.loss, [p.detach().numpy().copy() for p in model.parameters()]
    (la, pa), (lb, pb) = run(False), run(True)
    assert la == lb and all(x.tobytes() == y.tobytes() for x, y in zip(pa, pb))


def test_lr_find_stops_on_divergence_and_validates():
    loader, _, _ = _digits()
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = gc.optim.SGD(model.parameters(), lr=0.1)
    res = lr_find(model, F.cross_entropy, opt, loader, end_lr=1e4, num_iter=100)
    assert res.diverged and len(res.lrs) < 100 and opt.param_groups[0]["lr"] == 0.1
    for kw in ({"start_lr": 1.0, "end_lr": 0.1}, {"num_iter": 1}, {"smooth": 1.0}):
        with pytest.raises(ValueError, match="lr_find"):
            lr_find(model, F.cross_entropy, opt, loader, **kw)


def test_demo_lr_auto_trains_to_097(capsys):
    from gradcore import __main__ as cli
    with warnings.catch_warnings():
        warnings.simplefilter("error", gc.diagnostics.GradientWarning)   # no false alarms
        assert cli.main(["demo", "--no-progress", "--lr", "auto"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"suggested lr \(steepest descent of the smoothed loss\) ([0-9.e-]+)", out)
    assert m and 1e-5 < float(m.group(1)) < 1
    acc = float(re.search(r"^test accuracy: (\d\.\d{3})$", out, re.M).group(1))
    assert acc >= 0.97
    table = out[out.index("layer-wise gradient norms"):].splitlines()
    assert "update/weight" in table[1] and all(ln.rstrip().endswith("ok") for ln in table[2:4])


# ---- activation statistics ---------------------------------------------------------------
def test_activation_gradients_sigmoid_tanh_relu():
    gc.manual_seed(0)
    lin = nn.Linear(4, 6)
    with gc.no_grad():
        lin.weight.copy_(gc.tensor(np.eye(6, 4, dtype=np.float32) * 10))
        lin.bias.copy_(gc.tensor(np.array([0, 0, 0, 0, -100, 0], np.float32)))
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 5),
                          nn.Tanh())
    x = gc.tensor(np.random.default_rng(0).standard_normal((200, 4)).astype(np.float32))
    before = [p.grad for p in model.parameters()]
    stats = activation_gradients(model, x)
    assert list(stats) == ["1", "3", "5"] and [p.grad for p in model.parameters()] == before
    h = lin(x).detach().numpy()
    dead = ((h > 0).sum(0) == 0).mean()        # units 4 (bias -100) and 5 (zero weight row)
    assert stats["1"]["frac_dead"] == pytest.approx(dead) and dead == pytest.approx(2 / 6)
    assert stats["1"]["mean_abs_grad"] == pytest.approx((h > 0).mean())
    assert stats["1"]["frac_saturated"] is None
    z = model[2](gc.relu(lin(x))).detach().numpy().astype(np.float64)
    s = 1 / (1 + np.exp(-z))
    d = s * (1 - s)
    assert stats["3"]["mean_abs_grad"] == pytest.approx(d.mean(), rel=1e-5)
    assert stats["3"]["frac_saturated"] == pytest.approx((d < 0.25e-2).mean())
    assert stats["3"]["frac_dead"] == 0.0
    assert 0 <= stats["5"]["frac_saturated"] <= 1


def test_activation_gradients_flags_saturated_tanh():
    lin = nn.Linear(3, 3)
    with gc.no_grad():
        lin.weight.copy_(gc.tensor(np.eye(3, dtype=np.float32) * 100))
        lin.bias.fill_(0)
    x = gc.tensor(np.array([[1, -1, 0.0], [2, -2, 0.0]], np.float32))
    st = activation_gradients(nn.Sequential(lin, nn.Tanh()), x)["1"]
    assert st["frac_saturated"] == pytest.approx(4 / 6)
    assert st["frac_dead"] == pytest.approx(2 / 3)   # d tanh underflows to 0 at |x| = 100


# ---- plots -------------------------------------------------------------------------------
def test_plots_write_pngs(tmp_path):
    import matplotlib  # noqa: F401  (the test extra installs it)
    loader, _, _ = _digits(batch=256)
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = gc.optim.Adam(model.parameters(), lr=1e-2)
    h = gc.train.fit(model, F.cross_entropy, opt, loader, 2, progress=False)
    res = lr_find(model, F.cross_entropy, opt, loader, num_iter=30)
    paths = [gc.diagnostics.plot_gradient_flow(h.monitor, tmp_path / "flow.png"),
             gc.diagnostics.plot_gradient_flow(h, tmp_path / "flow_h.png"),
             gc.diagnostics.plot_lr_find(res, tmp_path / "lr.png"),
             res.plot(tmp_path / "lr2.png"), h.plot(tmp_path / "hist.png")]
    for p in paths:
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no per-step layer norms"):
        gc.diagnostics.plot_gradient_flow(gc.train.History(), tmp_path / "x.png")
