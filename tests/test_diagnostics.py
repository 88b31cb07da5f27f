"""gc.diagnostics: the grad_stats kernel, GradientMonitor, fit's monitor integration and NaN/Inf
provenance (detect_anomaly, fit's re-execution of a non-finite step)."""
import inspect
import warnings

import numpy as np
import pytest

import gradcore as gc
from gradcore import dispatch as D
from gradcore import engine, nn
from gradcore.diagnostics import AnomalyError, GradientMonitor, GradientWarning
from gradcore.dispatch import K
from gradcore.nn import functional as F


# ---- the grad_stats kernel ------------------------------------------------------------------
def _ref(g):
    g = np.asarray(g, np.float64)
    fin = np.isfinite(g)
    mx = np.nan if np.isnan(g).any() else (np.abs(g).max() if g.size else 0.0)
    return [float((g * g).sum()), mx, float((~fin).sum())]


def test_grad_stats_mode0_matches_numpy_mixed_dtypes_and_sizes():
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(40000).astype(np.float32),       # several 16K chunks
          rng.standard_normal((3, 5)),                          # float64
          np.array([1.0, np.inf, -2.0], np.float32),
          np.array([np.nan, 1.0, np.inf]),
          np.zeros((0, 4), np.float32),                         # empty
          rng.standard_normal((7, 1, 3)).astype(np.float32)[:, :, ::-1].copy()]
    out = np.empty((len(gs), 5))
    D.run(K.grad_stats, out, *gs, mode=0)
    for row, g in zip(out, gs):
        r = _ref(g)
        np.testing.assert_allclose(row[0], r[0], rtol=1e-12)
        np.testing.assert_equal(row[1:3], r[1:])
        assert np.isnan(row[3:]).all()
    assert out[2, 1] == np.inf and out[2, 2] == 1 and np.isnan(out[3, 1]) and out[3, 2] == 2


def test_grad_stats_mode1_and_mode2_update_norm_and_snapshot():
    rng = np.random.default_rng(1)
    p = [rng.standard_normal((50, 400)).astype(np.float32), rng.standard_normal(7)]
    g = [rng.standard_normal(a.shape).astype(a.dtype) for a in p]
    prev = [a + rng.standard_normal(a.shape).astype(a.dtype) * 0.1 for a in p]
    old = [q.copy() for q in prev]
    out = np.empty((2, 5))
    D.run(K.grad_stats, out, *[x for t in zip(g, p, prev) for x in t], mode=1)
    for row, gi, pi, qi, q in zip(out, g, p, old, prev):
        np.testing.assert_allclose(row[0], _ref(gi)[0], rtol=1e-12)
        d = pi.astype(np.float64) - qi
        np.testing.assert_allclose(row[3], (d * d).sum(), rtol=1e-12)
        np.testing.assert_allclose(row[4], (pi.astype(np.float64) ** 2).sum(), rtol=1e-12)
        np.testing.assert_array_equal(q, pi)          # prev = p afterwards
    D.run(K.grad_stats, out, *[x for t in zip(p, prev) for x in t], mode=2)
    assert np.isnan(out[:, :3]).all() and (out[:, 3] == 0).all()


def test_grad_stats_independent_of_thread_count():
    g = np.random.default_rng(2).standard_normal((1 << 22) + 12345).astype(np.float32)
    res = []
    n0 = gc.get_num_threads()
    try:
        for n in (1, 2, 3):
            gc.set_num_threads(n)
            out = np.empty((1, 5))
            D.run(K.grad_stats, out, g, mode=0)
            res.append(out[0, :3].copy())
    finally:
        gc.set_num_threads(n0)
    assert all((r == res[0]).all() for r in res)


@pytest.mark.parametrize("args, kw, exc, msg", [
    ((np.empty((2, 5)), np.zeros(3, np.float32)), {"mode": 0}, ValueError, r"shape \(1, 5\)"),
    ((np.empty((1, 5), np.float32), np.zeros(3)), {"mode": 0}, TypeError, "float64"),
    ((np.empty((1, 5)), np.zeros(3, np.int64)), {"mode": 0}, TypeError, "int64"),
    ((np.empty((1, 5)), np.zeros(3), np.zeros(3)), {"mode": 1}, ValueError, "tuples of 3"),
    ((np.empty((1, 5)), np.zeros(3)), {"mode": 7}, ValueError, "mode"),
    ((np.empty((1, 5)), np.zeros(3), np.zeros(4), np.zeros(4)), {"mode": 1}, ValueError,
     "grad has shape"),
])
def test_grad_stats_errors_name_the_kernel(args, kw, exc, msg):
    with pytest.raises(exc, match="grad_stats.*" + msg):
        D.run(K.grad_stats, *args, **kw)


# ---- GradientMonitor ----------------------------------------------------------------------
def _mlp(*sizes, act=nn.ReLU):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


def _xy(n=64, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return (gc.tensor(rng.standard_normal((n, d)).astype(np.float32)),
            gc.tensor(rng.integers(0, c, n)))


def test_layer_norms_equal_norms_of_grad_tensors():
    gc.manual_seed(0)
    model = _mlp(8, 16, 16, 3)
    mon = GradientMonitor(model)
    x, y = _xy()
    for _ in range(3):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        mon.record()
    grads = {n: p.grad.numpy().astype(np.float64) for n, p in model.named_parameters()}
    for layer, v in mon.layer_norms().items():
        ref = np.sqrt(sum((g ** 2).sum() for n, g in grads.items() if n.startswith(layer + ".")))
        assert v == pytest.approx(ref, rel=1e-6)
    for n, g in grads.items():
        assert len(mon.norms[n]) == 3
        assert mon.norms[n][-1] == pytest.approx(np.linalg.norm(g), rel=1e-6)
    assert list(mon.layer_norms()) == ["0", "2", "4"]
    mx = mon.layer_series("max")[-1]
    assert mx[0] == pytest.approx(max(np.abs(grads["0.weight"]).max(),
                                      np.abs(grads["0.bias"]).max()))


def test_update_ratio_is_norm_of_the_step_over_weight_norm():
    gc.manual_seed(0)
    model = _mlp(8, 16, 3)
    opt = gc.optim.SGD(model.parameters(), lr=0.1)
    mon = GradientMonitor(model, ratio_every=1)
    x, y = _xy()
    for _ in range(2):
        before = {n: p.detach().numpy().astype(np.float64).copy() for n, p in model.named_parameters()}
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        mon.record()
        opt.step()
    mon.flush()
    after = {n: p.detach().numpy().astype(np.float64) for n, p in model.named_parameters()}
    r = mon.layer_series("ratio")[-1]
    for i, layer in enumerate(("0", "2")):
        ks = [k for k in after if k.startswith(layer + ".")]
        dw = np.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in ks))
        w = np.sqrt(sum((after[k] ** 2).sum() for k in ks))
        assert r[i] == pytest.approx(dw / w, rel=1e-6)
    assert np.isfinite(mon.layer_series("ratio")).all()


def test_ratio_every_measures_every_kth_step_only():
    gc.manual_seed(0)
    model = _mlp(8, 4, 3)
    opt = gc.optim.SGD(model.parameters(), lr=0.1)
    mon = GradientMonitor(model, ratio_every=4)
    x, y = _xy()
    for _ in range(9):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        mon.record()
        opt.step()
    measured = np.flatnonzero(np.isfinite(mon.layer_series("ratio")[:, 0]))
    assert measured.tolist() == [3, 7]
    assert GradientMonitor(model, update_ratio=False)._prev is None


def _set_grads(model, scale):
    for p in model.parameters():
        p.grad = gc.full(p.shape, scale / np.sqrt(p.numel()))


def test_hysteresis_one_noisy_step_is_not_an_alert():
    model = nn.Sequential(nn.Linear(2, 2))
    mon = GradientMonitor(model, patience=3)
    for s in [1.0, 1e6, 1.0, 1e6, 1e6, 1.0, 1e6, 1e6, 1e6, 1e6, 1.0]:
        _set_grads(model, s)
        mon.record()
    iss = mon.issues()
    assert [(i.kind, i.name, i.step) for i in iss] == [("exploding", "0", 6)]
    assert iss[0].value == pytest.approx(1e6 * np.sqrt(2 / 1), rel=0.5)
    # back in range for `patience` steps re-arms the alert
    for s in [1.0, 1.0, 1.0, 1e6, 1e6, 1e6]:
        _set_grads(model, s)
        mon.record()
    assert [(i.kind, i.step) for i in mon.issues()] == [("exploding", 6), ("exploding", 14)]
    assert len(mon.new_issues()) == 2 and mon.new_issues() == []


def test_vanishing_and_nonfinite_alerts():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    mon = GradientMonitor(model)
    for _ in range(3):
        _set_grads(model, 1e-9)
        mon.record()
    assert {(i.kind, i.name, i.step) for i in mon.issues()} == {("vanishing", "0", 0),
                                                                ("vanishing", "1", 0)}
    _set_grads(model, 1.0)
    model[1].weight.grad.numpy()[0, 0] = np.nan
    new = mon.record()           # non-finite: no patience
    assert [(i.kind, i.name, i.step, i.value) for i in new] == [("nonfinite", "1", 3, 1.0)]
    assert mon.last_nonfinite()
    assert np.isnan(mon.layer_norms()["1"]) and np.isfinite(mon.layer_norms()["0"])
    s = mon.summary()
    assert "vanishing@0" in s and "nonfinite@3" in s and s.splitlines()[0].split()[0] == "layer"


def test_parameters_without_grad_are_not_flagged():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    mon = GradientMonitor(model)
    for _ in range(4):
        for p in model[0].parameters():
            p.grad = gc.ones(p.shape)
        for p in model[1].parameters():
            p.grad = None
        mon.record()
    assert mon.issues() == []
    assert np.isnan(mon.norms["1.weight"]).all() and np.isnan(mon.layer_norms()["1"])


def test_monitor_argument_validation():
    m = nn.Linear(2, 2)
    for kw in ({"vanish_below": 1.0, "explode_above": 0.5}, {"patience": 0},
               {"ratio_every": 0}):
        with pytest.raises(ValueError, match="GradientMonitor"):
            GradientMonitor(m, **kw)


# ---- fit ---------------------------------------------------------------------------------
def _digits_loader(batch=64, standardize=False):
    X, y, _, _ = gc.data.load_digits()
    if standardize:
        X = (X - X.mean(0)) / (X.std(0) + 0.01)
    return gc.data.DataLoader(gc.data.TensorDataset(X, y), batch_size=batch, shuffle=True,
                              seed=0)


def _fit_warnings(model, opt, loader, epochs=1, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        h = gc.train.fit(model, F.cross_entropy, opt, loader, epochs, progress=False, **kw)
    return h, [x for x in w if issubclass(x.category, GradientWarning)]


def test_fit_flags_a_deep_sigmoid_net_vanishing_in_its_first_layers():
    gc.manual_seed(0)
    model = _mlp(64, *[32] * 19, 10, act=nn.Sigmoid)   # 20 Linear layers, default init
    loader = _digits_loader()
    h, w = _fit_warnings(model, gc.optim.SGD(model.parameters(), lr=0.1), loader)
    vanish = {i.name: i for i in h.monitor.issues() if i.kind == "vanishing"}
    assert {"0", "2", "4"} <= set(vanish)
    assert all(vanish[n].step < len(loader) for n in ("0", "2", "4"))
    assert len(w) == 1    # one warning for the layers flagged at the same step
    msg = str(w[0].message)
    assert "layer '0' at step 0" in msg and "initialisation" in msg and "vanishing" in msg
    assert "vanishing" in h.grad_norm_table().splitlines()[1]


def test_fit_flags_weights_scaled_by_10_exploding():
    gc.manual_seed(0)
    model = _mlp(64, 64, 64, 64, 64, 64, 10)
    with gc.no_grad():
        for p in model.parameters():
            p.mul_(10)
    loader = _digits_loader(standardize=True)
    h, w = _fit_warnings(model, gc.optim.SGD(model.parameters(), lr=1e-6), loader)
    explode = [i for i in h.monitor.issues() if i.kind == "exploding"]
    assert explode and explode[0].step < len(loader) and explode[0].value > 1e3
    assert any("exploding" in str(x.message) and "clip" in str(x.message) for x in w)


def test_fit_history_carries_per_layer_series():
    gc.manual_seed(0)
    model = _mlp(64, 32, 10)
    loader = _digits_loader(batch=256, standardize=True)
    h, w = _fit_warnings(model, gc.optim.Adam(model.parameters(), lr=1e-2), loader, epochs=2)
    assert w == []
    steps = 2 * len(loader)
    assert set(h.layer_grad_norms) == {"0", "2"}
    assert all(len(v) == steps for v in h.layer_grad_norms_step.values())
    assert all(len(v) == 2 for v in h.layer_grad_norms.values())
    assert all(len(v) == steps for v in h.update_ratios_step.values())
    assert np.isfinite(h.update_ratios["0"]).all()
    assert h.layer_grad_norms_step["0"] == h.monitor.layer_series("norm")[:, 0].tolist()
    # per-parameter epoch means agree with the monitor's per-step norms
    n0 = np.array(h.monitor.norms["0.weight"][:len(loader)])
    assert h.grad_norms["0.weight"][0] == pytest.approx(n0.mean(), rel=1e-9)
    sd = h.state_dict()
    assert sd["layer_grad_norms"] == h.layer_grad_norms and "update_ratios_step" in sd
    table = h.grad_norm_table()
    assert "update/weight" in table.splitlines()[0] and all(
        ln.endswith("ok") for ln in table.splitlines()[1:])


def test_fit_monitor_false_and_bad_values():
    gc.manual_seed(0)
    model = _mlp(64, 16, 10)
    loader = _digits_loader(batch=512)
    opt = gc.optim.SGD(model.parameters(), lr=0.1)
    h = gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False, monitor=False)
    assert h.monitor is None and h.layer_grad_norms == {} and len(h.grad_norms["0.weight"]) == 1
    mon = GradientMonitor(model)
    h = gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False, monitor=mon)
    assert h.monitor is mon and mon.steps == len(loader)
    with pytest.raises(TypeError, match="monitor"):
        gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False, monitor="yes")
    with pytest.raises(ValueError, match="on_nonfinite"):
        gc.train.fit(model, F.cross_entropy, opt, loader, 1, progress=False, on_nonfinite="x")


# ---- NaN/Inf provenance ---------------------------------------------------------------------
class LogLayer(nn.Module):
    def __init__(self, shift):
        super().__init__()
        self.lin = nn.Linear(16, 16)
        self.shift = shift

    def forward(self, x):
        h = self.lin(x)
        return gc.log(h + self.shift)   # LOG_LINE: NaN once h < -shift


LOG_LINE = next(i for i, ln in enumerate(inspect.getsource(LogLayer).splitlines())
                if "LOG_LINE" in ln) + inspect.getsourcelines(LogLayer)[1]


class SqrtLayer(nn.Module):
    def forward(self, x):
        return gc.sqrt(x.relu())   # SQRT_LINE: finite forward, inf derivative at 0


def _no_hooks_left():
    return (D.run is gc._C.run and engine.site_hook is None and not engine.pre_node_hooks
            and not engine.node_hooks)


def test_detect_anomaly_names_the_forward_op_module_and_line():
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), LogLayer(0.0), nn.Linear(16, 3))
    x, y = _xy(32)
    with pytest.raises(RuntimeError) as ei:
        with gc.autograd.detect_anomaly():
            F.cross_entropy(model(x), y).backward()
    e = ei.value
    assert isinstance(e, AnomalyError)
    assert (e.op, e.phase, e.propagated) == ("log", "forward", False)
    assert e.input_shapes == [(32, 16)] and e.output_shapes == [(32, 16)]
    assert e.module == "2 (LogLayer)"
    assert e.line.endswith("return gc.log(h + self.shift)   # LOG_LINE: NaN once h < -shift")
    assert f"test_diagnostics.py:{LOG_LINE} in forward" in e.line
    msg = str(e)
    assert "kernel 'log' (forward)" in msg and "(32, 16)" in msg and "LogLayer" in msg
    assert _no_hooks_left()


def test_detect_anomaly_names_the_backward_op():
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), SqrtLayer(), nn.Linear(16, 3))
    x, y = _xy(32)
    with pytest.raises(AnomalyError) as ei:
        with gc.autograd.detect_anomaly():
            F.cross_entropy(model(x), y).backward()
    e = ei.value
    assert (e.phase, e.primitive, e.module) == ("backward", "sqrt", "1 (SqrtLayer)")
    assert "SQRT_LINE" in e.line and "in the backward of 'sqrt'" in str(e)
    assert _no_hooks_left()
    with gc.autograd.detect_anomaly():    # finite code runs unchanged
        F.cross_entropy(nn.Linear(8, 3)(x), y).backward()
    with gc.autograd.detect_anomaly(check_nan=False):
        assert D.run is gc._C.run


def test_detect_anomaly_reports_propagated_input_nan():
    x = gc.tensor(np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(AnomalyError, match="propagated") as ei:
        with gc.autograd.detect_anomaly():
            nn.Linear(2, 2)(x)
    assert ei.value.propagated and ei.value.op == "gemm"


def _nan_setup(shift=3.0):
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), LogLayer(shift), nn.Linear(16, 3))
    rng = np.random.default_rng(1)
    X = rng.standard_normal((512, 8)).astype(np.float32)
    Y = rng.integers(0, 3, 512)
    loader = gc.data.DataLoader(gc.data.TensorDataset(X, Y), batch_size=32, shuffle=True, seed=0)
    return model, gc.optim.SGD(model.parameters(), lr=3.0), loader


def test_fit_reexecutes_the_nonfinite_step_and_names_the_op():
    model, opt, loader = _nan_setup()
    seen = []

    class Spy(gc.train.Callback):   # a finite step runs with no hook installed: zero overhead
        def on_batch_end(self, batch, logs):
            seen.append(_no_hooks_left())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientWarning)
        with pytest.raises(AnomalyError) as ei:
            gc.train.fit(model, F.cross_entropy, opt, loader, 5, progress=False,
                         callbacks=[Spy()])
    e = ei.value
    assert seen and all(seen) and _no_hooks_left()
    assert (e.op, e.phase) == ("log", "forward") and e.step == len(seen)
    assert f"test_diagnostics.py:{LOG_LINE}" in e.line
    assert str(e).startswith(f"fit: the loss turned non-finite at step {e.step}")


def test_fit_on_nonfinite_warn_continues():
    model, opt, loader = _nan_setup()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        h = gc.train.fit(model, F.cross_entropy, opt, loader, 2, progress=False,
                         on_nonfinite="warn")
    msgs = [str(x.message) for x in w if issubclass(x.category, GradientWarning)]
    assert h.epochs == 2 and any("kernel 'log' (forward)" in m for m in msgs)
    assert sum("re-executing the step" in m for m in msgs) == 1
    assert any(i.kind == "nonfinite" for i in h.monitor.issues())
