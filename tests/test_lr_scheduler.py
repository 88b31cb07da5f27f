"""gc.optim.lr_scheduler: each scheduler's lr sequence (and momentum for OneCycleLR) against a
numpy transcription of its documented formula, over 30 steps with two parameter groups."""
import math

import numpy as np
import pytest

import gradcore as gc
from gradcore.optim import lr_scheduler as S

BASE = np.array([0.1, 0.05])
EPOCHS = np.arange(31)  # value after construction (epoch 0), then after each of 30 steps


def make_opt(cls=gc.optim.SGD, **kw):
    groups = [{"params": [gc.zeros(2, requires_grad=True)], "lr": float(BASE[0])},
              {"params": [gc.zeros(3, requires_grad=True)], "lr": float(BASE[1])}]
    return cls(groups, **kw)


def run(sched, opt, n=30, key=None):
    """lrs (and group[key] values) after construction and after each of n steps."""
    lrs, extra = [sched.get_last_lr()], [[g[key] for g in opt.param_groups]] if key else []
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        if key:
            extra.append([g[key] for g in opt.param_groups])
        assert lrs[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(lrs), (np.array(extra) if key else None)


def closed(f):
    """lr[e, group] = f(e, base_lr)."""
    return np.array([[f(e, b) for b in BASE] for e in EPOCHS])


CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5), lambda e, b: b * 0.5 ** (e // 7)),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 22], gamma=0.3),
     lambda e, b: b * 0.3 ** int(np.searchsorted([3, 10, 10, 22], e, side="right"))),
    ("ExponentialLR", dict(gamma=0.9), lambda e, b: b * 0.9 ** e),
    ("CosineAnnealingLR", dict(T_max=10), lambda e, b: b * (1 + math.cos(math.pi * e / 10)) / 2),
    ("CosineAnnealingLR", dict(T_max=8, eta_min=0.001),
     lambda e, b: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * e / 8)) / 2),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.75, total_iters=12),
     lambda e, b: b * (0.25 + 0.5 * min(e, 12) / 12)),
    ("LinearLR", {}, lambda e, b: b * (1 / 3 + (2 / 3) * min(e, 5) / 5)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e)), lambda e, b: b / (1 + e)),
]


@pytest.mark.parametrize("name,kw,formula", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_lr_sequence_matches_formula(name, kw, formula):
    opt = make_opt(momentum=0.9)
    lrs, _ = run(getattr(S, name)(opt, **kw), opt)
    np.testing.assert_allclose(lrs, closed(formula), rtol=1e-12, atol=1e-15)


def test_lambda_lr_one_function_per_group():
    opt = make_opt()
    lrs, _ = run(S.LambdaLR(opt, [lambda e: 0.95 ** e, lambda e: e // 3]), opt)
    np.testing.assert_allclose(lrs[:, 0], 0.1 * 0.95 ** EPOCHS, rtol=1e-12)
    np.testing.assert_allclose(lrs[:, 1], 0.05 * (EPOCHS // 3), rtol=1e-12)


def np_one_cycle(total, max_lr, pct=0.3, div=25.0, final_div=1e4, anneal="cos", three=False,
                 mom=(0.85, 0.95)):
    """The documented 1cycle schedule: (lr, momentum) at each step index."""
    f = ((lambda a, b, t: b + (a - b) / 2 * (math.cos(math.pi * t) + 1)) if anneal == "cos"
         else (lambda a, b, t: a + (b - a) * t))
    lo, hi = max_lr / div, max_lr
    end = lo / final_div
    base_m, max_m = mom
    up = pct * total - 1
    if three:
        phases = [(up, lo, hi, max_m, base_m), (2 * pct * total - 2, hi, lo, base_m, max_m),
                  (total - 1, lo, end, max_m, max_m)]
    else:
        phases = [(up, lo, hi, max_m, base_m), (total - 1, hi, end, base_m, max_m)]
    out = []
    for s in EPOCHS:
        start = 0.0
        for i, (stop, a, b, ma, mb) in enumerate(phases):
            if s <= stop or i == len(phases) - 1:
                t = (s - start) / (stop - start)
                out.append((f(a, b, t), f(ma, mb, t)))
                break
            start = stop
    return np.array(out)


@pytest.mark.parametrize("kw", [dict(), dict(anneal_strategy="linear"), dict(three_phase=True),
                                dict(pct_start=0.5, div_factor=10.0, final_div_factor=100.0),
                                dict(three_phase=True, anneal_strategy="linear", pct_start=0.2)])
def test_one_cycle_lr_and_momentum(kw):
    opt = make_opt(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=[1.0, 0.4], total_steps=31, **kw)
    lrs, mom = run(sched, opt, key="momentum")
    np_kw = dict(pct=kw.get("pct_start", 0.3), div=kw.get("div_factor", 25.0),
                 final_div=kw.get("final_div_factor", 1e4),
                 anneal=kw.get("anneal_strategy", "cos"), three=kw.get("three_phase", False))
    for j, m in enumerate([1.0, 0.4]):
        ref = np_one_cycle(31, m, **np_kw)
        np.testing.assert_allclose(lrs[:, j], ref[:, 0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(mom[:, j], ref[:, 1], rtol=1e-12)


def test_one_cycle_cycles_adam_beta1_and_counts_epochs_times_steps():
    opt = make_opt(gc.optim.Adam, betas=(0.9, 0.99))
    sched = S.OneCycleLR(opt, max_lr=0.5, epochs=3, steps_per_epoch=10, base_momentum=0.8,
                         max_momentum=0.9)
    assert sched.total_steps == 30
    _, betas = run(sched, opt, n=29, key="betas")
    ref = np_one_cycle(30, 0.5, mom=(0.8, 0.9))[:30]
    np.testing.assert_allclose(betas[:, 0, 0], ref[:, 1], rtol=1e-12)
    assert (betas[:, :, 1] == 0.99).all()
    opt.step()
    sched.step()  # step 30 == total_steps is still allowed, as torch
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        sched.step()


def test_reduce_lr_on_plateau_min_rel():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.79999, 0.8, 0.8, 0.8]
    # bad epochs: 0 0 1 2 3->reduce 1 0 1 2 3->reduce 1 (0.79999 is within the 1e-4 threshold)
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(sched.get_last_lr()[0])
    f = [1, 1, 1, 1, .5, .5, .5, .5, .5, .25, .25]
    np.testing.assert_allclose(lrs, 0.1 * np.array(f), rtol=1e-15)
    assert sched.last_epoch == len(metrics)


def test_reduce_lr_on_plateau_max_abs_cooldown_min_lr():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.01,
                                threshold_mode="abs", cooldown=2, min_lr=[0.002, 0.0])
    got = []
    for m in [0.5, 0.505, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]:
        sched.step(gc.tensor(m))
        got.append(sched.get_last_lr())
    # 0.505 is not better by 0.01 -> reduce; then two cooldown epochs, the next bad one reduces
    # again (group 0 clipped at min_lr 0.002, then no longer changed)
    expect = [[.1, .05], [.01, .005], [.01, .005], [.01, .005], [.002, .0005], [.002, .0005],
              [.002, .0005], [.002, .00005], [.002, .00005]]
    np.testing.assert_allclose(got, expect, rtol=1e-12)


def test_reduce_lr_on_plateau_eps_skips_tiny_changes():
    opt = make_opt()
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.5, eps=0.03)
    for m in [1.0, 2.0, 3.0]:
        sched.step(m)
    assert sched.get_last_lr() == [0.05, 0.05]  # 0.05 -> 0.025 is a change below eps


@pytest.mark.parametrize("name,kw", [("StepLR", dict(step_size=4, gamma=0.5)),
                                     ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
                                     ("OneCycleLR", dict(max_lr=1.0, total_steps=40))])
def test_state_dict_round_trip(name, kw):
    opt = make_opt(momentum=0.9)
    sched = getattr(S, name)(opt, **kw)
    run(sched, opt, n=12)
    sd, opt_sd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 12
    opt2 = make_opt(momentum=0.9)
    opt2.load_state_dict(opt_sd)
    sched2 = getattr(S, name)(opt2, **kw)
    sched2.load_state_dict(sd)
    a, _ = run(sched, opt, n=15)
    b, _ = run(sched2, opt2, n=15)
    np.testing.assert_array_equal(a, b)


def test_step_with_epoch_uses_closed_form():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=3, gamma=0.1)
    sched.step(7)
    np.testing.assert_allclose(sched.get_last_lr(), BASE * 0.01, rtol=1e-12)
    assert sched.last_epoch == 7


def test_scheduler_errors():
    opt = make_opt()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        S.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
        S.LambdaLR(opt, [lambda e: 1] * 3)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        S.OneCycleLR(opt, max_lr=[1.0], total_steps=10)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.OneCycleLR(make_opt(gc.optim.Adagrad), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        S.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="threshold mode"):
        S.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(KeyError, match="initial_lr"):
        S.ExponentialLR(make_opt(), gamma=0.9, last_epoch=3)


def test_resume_with_last_epoch_continues_the_sequence():
    opt = make_opt()
    S.ExponentialLR(opt, gamma=0.5)  # sets initial_lr in the groups
    sched = S.ExponentialLR(opt, gamma=0.5, last_epoch=3)
    assert sched.last_epoch == 4  # construction counts a step but keeps the lrs, as torch
    np.testing.assert_allclose(sched.get_last_lr(), BASE, rtol=1e-15)
    opt.step()
    sched.step()
    np.testing.assert_allclose(sched.get_last_lr(), BASE * 0.5, rtol=1e-15)
