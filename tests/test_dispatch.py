"""The dispatcher: one late-bound door (hooks see every kernel call), kernel schemas checked in
C++, and a recorded training step replayed through gc::call equal to eager to the bit."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn.functional as F
from gradcore import _C, dispatch as D, nn
from gradcore.dispatch import K


def _mlp_setup(seed=0):
    gc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 5))
    opt = gc.optim.Adam(model.parameters(), lr=1e-2)
    sched = gc.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, 20)).astype(np.float32),
             rng.integers(0, 5, 16).astype(np.int64)) for _ in range(n)]


def _train_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    opt.step()
    opt.zero_grad()
    return loss


def _params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_recorded_step_replays_in_cpp_bit_identical_to_eager():
    """Record one step (forward, loss, backward, clip, Adam, zero_grad) with a hook, replay the
    kernel list through gc::call for five more steps on new batches while StepLR changes the
    lr in between: parameters equal the eager run's to the bit."""
    batches = _batches(7)
    # Eager reference: 7 steps, the scheduler stepping after each.
    model, opt, sched = _mlp_setup()
    eager_counts = []
    for i, (x, y) in enumerate(batches):
        with D.record() as rec:
            _train_step(model, opt, gc.tensor(x), gc.tensor(y))
        eager_counts.append(len(rec.calls))
        sched.step()
    want = _params(model)
    lrs = sched.get_last_lr()

    # Replay: step 1 eager (creates Adam's state), step 2 recorded, steps 3-7 replayed in C++.
    model, opt, sched = _mlp_setup()
    x0, y0 = gc.tensor(batches[0][0]), gc.tensor(batches[0][1])
    _train_step(model, opt, x0, y0)
    sched.step()
    xr, yr = gc.tensor(batches[1][0]), gc.tensor(batches[1][1])
    with D.record() as rec:
        _train_step(model, opt, xr, yr)
    sched.step()
    # Every tensor computation of the step is in the recording: as many kernel calls as an
    # eager step makes, among them the matmuls, the fused loss, the clip and the Adam step.
    assert len(rec.calls) == eager_counts[1] > 20
    names = rec.kernel_names()
    for k in ("gemm", "cross_entropy", "cross_entropy_backward", "dropout_mask", "adam_step"):
        assert k in names
    prog = rec.program()
    assert len(prog) == len(rec.calls)
    for x, y in batches[2:]:
        D.replay(prog, [(x, xr._data), (y, yr._data)])
        sched.step()
    assert sched.get_last_lr() == lrs
    for got, exp in zip(_params(model), want):
        np.testing.assert_array_equal(got, exp)


def test_replay_reads_the_lr_at_run_time_not_at_record_time():
    p = gc.zeros(3, requires_grad=True)
    opt = gc.optim.SGD([p], lr=1.0)
    p.grad = gc.ones(3)
    with D.record() as rec:
        opt.step()
    opt.param_groups[0]["lr"] = 0.25
    rec.program().run()
    np.testing.assert_array_equal(p.detach().numpy(), [-1.25] * 3)


def test_hook_installed_later_sees_every_call_and_is_removable():
    x = gc.randn(4, 4, requires_grad=True)
    seen = []
    h = D.add_hook(lambda kid, args, kw, out: seen.append(D.SCHEMAS[kid].name))
    try:
        (x.relu() @ x).sum().backward()
    finally:
        h.remove()
    assert "relu" in seen and "gemm" in seen and "relu_backward" in seen
    n = len(seen)
    (x * 2).sum()
    assert len(seen) == n and D.run is _C.run


def test_cpp_hook_slot_sees_replayed_calls():
    a = np.ones((64, 64), np.float32)
    out = np.empty((64, 64), np.float32)
    prog = _C.Program([(K.gemm, (a, a), (out,), (0.0, 0.0)), (K.relu, (out,), (out,), ())])
    _C.trace_start()
    prog.run()
    events = _C.trace_stop()
    assert [e[0] for e in events] == [K.gemm, K.relu]
    assert events[0][3] == 2.0 * 64 ** 3          # the schema's FLOP count
    assert all(e[2] >= e[1] for e in events)
    np.testing.assert_array_equal(out, 64.0)


def test_schemas_are_exported_and_named_arguments_work():
    s = D.SCHEMAS[K.gemm]
    assert s.text == "gemm(T a, T b, *, int trans_a=0, int trans_b=0) -> T c"
    assert [n for n, _ in s.inputs] == ["a", "b"] and s.has_flops
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    c = D.run(K.gemm, a, a, (2, 2), trans_b=1)
    np.testing.assert_array_equal(c, a @ a.T)
    y = D.run(K.softmax, x=a, y=a.shape, dim=1)
    np.testing.assert_allclose(y.sum(1), 1.0)
    assert len(D.SCHEMAS) == len({s.name for s in D.SCHEMAS}) > 50


@pytest.mark.parametrize("call,exc,match", [
    (lambda: D.run(K.gemm, np.ones((2, 2)), np.ones((2, 2)), (2, 2), trans_x=1), TypeError,
     "gemm: unexpected keyword argument 'trans_x'"),
    (lambda: D.run(K.softmax, np.ones((2, 2)), (2, 2)), ValueError, "softmax: missing attribute 'dim'"),
    (lambda: D.run(K.softmax, np.ones((2, 2)), (2, 2), 0.5), TypeError,
     "softmax: attribute 'dim' must be an integer"),
    (lambda: D.run(K.cross_entropy, np.ones((2, 3)), np.ones(2), np.ones(0), (2,), (2, 2), (), (),
                   -100, 0.0, 1), TypeError, "cross_entropy: input 'target' must be int64"),
    (lambda: D.run(K.cast, np.ones(2), (2,)), TypeError, "cast: output 'y' has no dtype rule"),
    (lambda: D.run(K.gemm, np.ones((2, 2)), (2, 2)), TypeError, "gemm: missing output 'c'"),
    (lambda: D.run(K.gemm, np.ones((2, 2)), np.ones((2, 2)), (2, 2), 0, trans_a=1), TypeError,
     "given twice"),
])
def test_schema_violations_name_the_kernel_and_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
