"""gc.profiler: every kernel call timed (C++ tracer), labelled by module / backward /
optimizer step, tables and a Chrome trace."""
import json

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn.functional as F
from gradcore import dispatch as D, nn


def _step(model, opt, x, y):
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def test_profile_of_a_training_step(tmp_path):
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = gc.optim.Adam(model.parameters())
    x, y = gc.randn(16, 32), gc.tensor(np.arange(16) % 10)
    _step(model, opt, x, y)
    with D.record() as rec:
        _step(model, opt, x, y)
    with gc.profiler.profile() as p:
        _step(model, opt, x, y)
    # one event per kernel call, the same kernels as the recorder saw
    assert [e[0] for e in p.events] == rec.kernel_names()
    labels = {e[1] for e in p.events}
    assert {"nn.Linear 0", "nn.Linear 2", "nn.ReLU 1", "backward nn.Linear 0",
            "backward nn.ReLU 1", "optim.Adam.step", "nn.utils.clip_grad_norm_"} <= labels
    rows = p.key_averages()
    assert sum(r[1] for r in rows) == len(p.events)
    assert sum(r[2] for r in rows) / 1e6 == pytest.approx(p.total_ms())
    gemm = next(r for r in rows if r[0] == "gemm")
    # forward 16x32x64 + 16x64x10; backward dW of both layers and dX of the second (x needs
    # no gradient); clip_grad_norm_'s g.g of each of the 4 parameters (2 flops per element)
    fwd, bwd = 2 * 16 * (32 * 64 + 64 * 10), 2 * 16 * (32 * 64 + 2 * 64 * 10)
    assert gemm[1] == 2 + 3 + 4 and gemm[3] == fwd + bwd + 2 * (32 * 64 + 64 + 64 * 10 + 10)
    table = p.table()
    assert table.splitlines()[0].split() == ["kernel", "calls", "total", "ms", "mean", "us", "%",
                                             "GFLOP/s"]
    assert "adam_step" in table and "kernel time total" in table
    assert p.table(group_by="module", row_limit=3).splitlines()[0].startswith("module")
    path = p.export_chrome_trace(str(tmp_path / "trace.json"))
    trace = json.load(open(path))["traceEvents"]
    assert len(trace) == len(p.events)
    assert all(ev["ph"] == "X" and ev["dur"] >= 0 and ev["ts"] >= 0 for ev in trace)


def test_replayed_calls_are_profiled_too():
    p_ = gc.zeros(4, requires_grad=True)
    opt = gc.optim.SGD([p_], lr=0.1)
    p_.grad = gc.ones(4)
    with D.record() as rec:
        opt.step()
    prog = rec.program()
    with gc.profiler.profile() as p:
        prog.run()
        prog.run()
    assert [(e[0], e[1]) for e in p.events] == [("sgd_step", "(replay)")] * 2


def test_profiles_do_not_nest_and_leave_no_hooks_behind():
    with gc.profiler.profile():
        with pytest.raises(RuntimeError, match="already running"):
            with gc.profiler.profile():
                pass
    assert D.run is gc._C.run and gc.engine.site_hook is None
    assert not gc.engine.node_hooks and not gc.engine.pre_node_hooks


def test_conv_kernels_report_their_flops():
    # 2 * (elements of dy) * (C/groups * kh * kw) for the forward, both gradients and the
    # transposed convolution
    conv = gc.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = gc.randn(3, 4, 9, 9, requires_grad=True)
    with gc.profiler.profile() as p:
        y = conv(x)
        y.sum().backward()
        gc.nn.functional.conv_transpose2d(gc.randn(2, 4, 3, 3), gc.randn(4, 5, 3, 3),
                                          gc.randn(5), stride=2)
    per = dict((r[0], r[3]) for r in p.key_averages())
    macs = 3 * 6 * 5 * 5 * (2 * 3 * 3)
    assert per["conv2d_bias"] == 2 * macs
    assert per["conv2d_backward_input"] == 2 * macs
    assert per["conv2d_backward_weight_bias"] == 2 * macs
    assert per["conv_transpose2d_bias"] == 2 * (2 * 4 * 3 * 3) * (5 * 3 * 3)
