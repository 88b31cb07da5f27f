"""gc.optim's first-order optimizers against numpy transcriptions of their documented update
rules (torch.optim's docs), on a small MLP built from gc ops, in float64 to 1e-10."""
import numpy as np
import pytest

import gradcore as gc
from gradcore.dispatch import K, run

RNG = np.random.default_rng(1234)
SHAPES = {"W1": (5, 8), "b1": (8,), "W2": (8, 3), "b2": (3,)}
INIT = {k: RNG.standard_normal(s) * 0.5 for k, s in SHAPES.items()}
BATCHES = [(RNG.standard_normal((16, 5)), RNG.standard_normal((16, 3))) for _ in range(25)]


# ---- numpy transcriptions of the documented update rules (st: per-parameter state) ------------
def np_sgd(p, g, st, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    g = g + weight_decay * p
    if momentum:
        st["b"] = g.copy() if "b" not in st else momentum * st["b"] + (1 - dampening) * g
        g = g + momentum * st["b"] if nesterov else st["b"]
    return p - lr * g


def np_adam(p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
            decoupled=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    if amsgrad:
        v = st["vmax"] = np.maximum(st.get("vmax", 0.0), v)
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def np_adamw(p, g, st, weight_decay=1e-2, **kw):
    return np_adam(p, g, st, weight_decay=weight_decay, decoupled=True, **kw)


def np_rmsprop(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
               centered=False):
    g = g + weight_decay * p
    s = st["s"] = alpha * st.get("s", 0.0) + (1 - alpha) * g * g
    if centered:
        a = st["a"] = alpha * st.get("a", 0.0) + (1 - alpha) * g
        s = s - a * a
    den = np.sqrt(s) + eps
    if momentum > 0:
        st["b"] = momentum * st.get("b", 0.0) + g / den
        return p - lr * st["b"]
    return p - lr * g / den


def np_adagrad(p, g, st, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
               initial_accumulator_value=0.0):
    t = st["t"] = st.get("t", 0) + 1
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    st["s"] = st.get("s", initial_accumulator_value) + g * g
    return p - clr * g / (np.sqrt(st["s"]) + eps)


REF = {"SGD": np_sgd, "Adam": np_adam, "AdamW": np_adamw, "RMSprop": np_rmsprop,
       "Adagrad": np_adagrad}
CONFIGS = [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.1, eps=1e-6)),
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)), ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)), ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1)),
]


def make_params(dtype=gc.float64):
    return {k: gc.tensor(v, dtype=dtype, requires_grad=True) for k, v in INIT.items()}


def mlp_loss(P, x, t):
    h = (gc.tensor(x, dtype=P["W1"].dtype) @ P["W1"] + P["b1"]).relu()
    out = h @ P["W2"] + P["b2"]
    return ((out - gc.tensor(t, dtype=out.dtype)) ** 2).mean()


def np_mlp_grads(P, x, t):
    """Manual backprop of mean((relu(x W1 + b1) W2 + b2 - t)^2)."""
    hp = x @ P["W1"] + P["b1"]
    h = np.maximum(hp, 0)
    dout = 2 * (h @ P["W2"] + P["b2"] - t) / t.size
    dhp = (dout @ P["W2"].T) * (hp > 0)
    return {"W1": x.T @ dhp, "b1": dhp.sum(0), "W2": h.T @ dout, "b2": dout.sum(0)}


def ids(c):
    return c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items())


@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_matches_numpy_rule_with_gc_grads(config):
    name, kw = config
    P = make_params()
    opt = getattr(gc.optim, name)(list(P.values()), **kw)
    ref = {k: v.copy() for k, v in INIT.items()}
    st = {k: {} for k in P}
    for x, t in BATCHES:
        opt.zero_grad()
        mlp_loss(P, x, t).backward()
        grads = {k: p.grad.numpy().copy() for k, p in P.items()}
        opt.step()
        for k in P:
            ref[k] = REF[name](ref[k], grads[k], st[k], **kw)
            np.testing.assert_allclose(P[k].detach().numpy(), ref[k], rtol=0, atol=1e-10)


@pytest.mark.parametrize("config", [CONFIGS[6], CONFIGS[10], CONFIGS[12], CONFIGS[17],
                                    CONFIGS[21]], ids=ids)
def test_end_to_end_against_numpy_backprop(config):
    name, kw = config
    P = make_params()
    opt = getattr(gc.optim, name)(list(P.values()), **kw)
    ref = {k: v.copy() for k, v in INIT.items()}
    st = {k: {} for k in P}
    for x, t in BATCHES:
        opt.zero_grad()
        mlp_loss(P, x, t).backward()
        opt.step()
        g = np_mlp_grads(ref, x, t)
        ref = {k: REF[name](ref[k], g[k], st[k], **kw) for k in ref}
    for k in P:
        np.testing.assert_allclose(P[k].detach().numpy(), ref[k], rtol=0, atol=1e-10)


def test_float32_matches_numpy():
    P = make_params(gc.float32)
    opt = gc.optim.Adam(list(P.values()), lr=0.01, amsgrad=True)
    ref = {k: v.astype(np.float32) for k, v in INIT.items()}
    st = {k: {} for k in P}
    for x, t in BATCHES[:10]:
        opt.zero_grad()
        mlp_loss(P, x, t).backward()
        grads = {k: p.grad.numpy().astype(np.float64) for k, p in P.items()}
        opt.step()
        for k in P:
            assert P[k].dtype == gc.float32 and opt.state[P[k]]["exp_avg"].dtype == gc.float32
            ref[k] = np_adam(ref[k].astype(np.float64), grads[k], st[k], lr=0.01, amsgrad=True)
            np.testing.assert_allclose(P[k].detach().numpy(), ref[k], atol=1e-5)


def test_param_groups_with_their_own_options():
    P = make_params()
    opt = gc.optim.SGD([{"params": [P["W1"], P["b1"]]},
                        {"params": [P["W2"], P["b2"]], "lr": 0.01, "nesterov": True}],
                       lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[0]["nesterov"] is False and opt.param_groups[1]["momentum"] == 0.9
    opt_a = gc.optim.Adam([{"params": [P["W1"]], "betas": (0.5, 0.9)}], lr=0.02)
    opt_a.add_param_group({"params": [P["b1"]], "lr": 0.003})
    assert opt_a.param_groups[1]["betas"] == (0.9, 0.999)
    ref = {k: v.copy() for k, v in INIT.items()}
    st = {k: {} for k in P}
    kws = {"W1": dict(lr=0.1, momentum=0.9), "b1": dict(lr=0.1, momentum=0.9),
           "W2": dict(lr=0.01, momentum=0.9, nesterov=True),
           "b2": dict(lr=0.01, momentum=0.9, nesterov=True)}
    for x, t in BATCHES:
        opt.zero_grad()
        mlp_loss(P, x, t).backward()
        grads = {k: p.grad.numpy().copy() for k, p in P.items()}
        opt.step()
        for k in P:
            ref[k] = np_sgd(ref[k], grads[k], st[k], **kws[k])
            np.testing.assert_allclose(P[k].detach().numpy(), ref[k], rtol=0, atol=1e-10)


def _as_numpy(sd):
    """A saved copy of a state dict, as a checkpoint would hold it."""
    conv = lambda v: np.array(v.numpy()) if isinstance(v, gc.Tensor) else v  # noqa: E731
    return {"state": {i: {k: conv(v) for k, v in s.items()} for i, s in sd["state"].items()},
            "param_groups": [dict(g) for g in sd["param_groups"]]}


@pytest.mark.parametrize("config", [CONFIGS[5], CONFIGS[10], CONFIGS[12], CONFIGS[17],
                                    CONFIGS[21]], ids=ids)
def test_state_dict_round_trip_continues_identically(config):
    name, kw = config
    P = make_params()
    opt = getattr(gc.optim, name)(list(P.values()), **kw)
    for x, t in BATCHES[:10]:
        opt.zero_grad(); mlp_loss(P, x, t).backward(); opt.step()
    sd = _as_numpy(opt.state_dict())
    assert sorted(sd["state"]) == [0, 1, 2, 3] and sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert all(isinstance(v, gc.Tensor) for s in opt.state_dict()["state"].values() for v in s.values())
    Q = {k: gc.tensor(p.detach().numpy().copy(), requires_grad=True) for k, p in P.items()}
    opt2 = getattr(gc.optim, name)(list(Q.values()), lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for x, t in BATCHES[10:]:
        for M, o in ((P, opt), (Q, opt2)):
            o.zero_grad(); mlp_loss(M, x, t).backward(); o.step()
    for k in P:
        np.testing.assert_array_equal(P[k].detach().numpy(), Q[k].detach().numpy())


def test_load_state_dict_validates():
    P = make_params()
    opt = gc.optim.Adam(list(P.values()), lr=0.01)
    opt.zero_grad(); mlp_loss(P, *BATCHES[0]).backward(); opt.step()
    good = _as_numpy(opt.state_dict())
    bad = _as_numpy(opt.state_dict())
    bad["state"][0]["exp_avg"] = np.zeros((8, 5))
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 has shape \(8, 5\).*\(5, 8\)"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": good["param_groups"] * 2})
    small = dict(good, param_groups=[dict(good["param_groups"][0], params=[0, 1])])
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(small)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad_step = _as_numpy(opt.state_dict())
    bad_step["state"][1]["step"] = np.zeros(3)
    with pytest.raises(ValueError, match="'step' of parameter 1"):
        opt.load_state_dict(bad_step)
    np.testing.assert_array_equal(opt.state[P["W1"]]["step"].numpy(), 1.0)  # nothing changed


def test_load_torch_style_state_dict():
    """A torch Adam state dict converted with .numpy(): float32 0-d steps, extra group keys,
    string keys as some checkpoint formats give."""
    P = make_params()
    opt = gc.optim.Adam(list(P.values()))
    sd = {"state": {str(i): {"step": np.array(3.0, np.float32), "exp_avg": np.ones(s, np.float32),
                             "exp_avg_sq": np.ones(s, np.float32)}
                    for i, s in enumerate(SHAPES.values())},
          "param_groups": [{"lr": 0.5, "betas": [0.8, 0.9], "eps": 1e-8, "weight_decay": 0,
                            "amsgrad": False, "maximize": False, "foreach": None,
                            "capturable": False, "differentiable": False, "fused": None,
                            "params": [0, 1, 2, 3]}]}
    opt.load_state_dict(sd)
    s = opt.state[P["W2"]]
    assert s["exp_avg"].dtype == gc.float64 and s["exp_avg"].shape == (8, 3)
    assert s["step"].dtype == gc.float64 and s["step"].item() == 3.0
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["params"][0] is P["W1"]
    opt.zero_grad(); mlp_loss(P, *BATCHES[0]).backward(); opt.step()
    assert s["step"].item() == 4.0


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    P = make_params()
    opt = gc.optim.SGD(list(P.values()), lr=0.1)
    mlp_loss(P, *BATCHES[0]).backward()
    grads = {k: p.grad for k, p in P.items()}
    opt.zero_grad(set_to_none=set_to_none)
    for k, p in P.items():
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is grads[k] and not p.grad.numpy().any()
    opt.step()  # zero or missing grads: parameters unchanged
    for k, p in P.items():
        np.testing.assert_array_equal(p.detach().numpy(), INIT[k])


BAD = [
    (gc.optim.SGD, dict(lr=-1), "Invalid learning rate: -1"),
    (gc.optim.SGD, dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (gc.optim.SGD, dict(lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (gc.optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
    (gc.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
    (gc.optim.Adam, dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (gc.optim.Adam, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (gc.optim.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (gc.optim.Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (gc.optim.AdamW, dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (gc.optim.Adam, dict(maximize=True), "maximize=True is not supported"),
    (gc.optim.RMSprop, dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    (gc.optim.RMSprop, dict(momentum=-1), "Invalid momentum value: -1"),
    (gc.optim.RMSprop, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (gc.optim.Adagrad, dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    (gc.optim.Adagrad, dict(initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    (gc.optim.Adagrad, dict(eps=-1), "Invalid epsilon value: -1"),
]


@pytest.mark.parametrize("cls,kw,msg", BAD, ids=[f"{c.__name__}-{m}" for c, _, m in BAD])
def test_bad_hyperparameters_raise(cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        cls([gc.zeros(3, requires_grad=True)], **kw)


def test_bad_hyperparameter_in_added_group_raises():
    opt = gc.optim.Adam([gc.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="Invalid learning rate: -2"):
        opt.add_param_group({"params": [gc.zeros(2, requires_grad=True)], "lr": -2})
    assert len(opt.param_groups) == 1


def test_bad_params_raise():
    p = gc.zeros(3, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        gc.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        gc.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        gc.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        gc.optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        gc.optim.SGD([np.zeros(3)], lr=0.1)


def test_params_without_grad_are_skipped():
    P = make_params()
    opt = gc.optim.Adam(list(P.values()), lr=0.1)
    loss = ((gc.tensor(BATCHES[0][0]) @ P["W1"] + P["b1"]) ** 2).mean()  # W2, b2 unused
    loss.backward()
    opt.step()
    assert P["W2"] not in opt.state and P["b2"] not in opt.state
    np.testing.assert_array_equal(P["W2"].detach().numpy(), INIT["W2"])
    assert not np.array_equal(P["W1"].detach().numpy(), INIT["W1"])


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}),
                                     ("RMSprop", dict(centered=True)), ("Adagrad", {})])
def test_one_fused_kernel_call_per_group(name, kw):
    P = make_params()
    opt = getattr(gc.optim, name)([{"params": [P["W1"], P["b1"]]},
                                   {"params": [P["W2"], P["b2"]]}], **kw)
    for step in range(2):  # the first step also creates the state (fill kernels)
        mlp_loss(P, *BATCHES[0]).backward()
        with gc.dispatch.record() as rec:
            opt.step()
    assert rec.kernel_names() == [name.lower() + "_step"] * 2


def test_many_small_and_one_large_parameter():
    """Exercises the binding's tensor limit (several calls then) and the OpenMP paths."""
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(3) for _ in range(1500)] + [rng.standard_normal(100_000)]
    ps = [gc.tensor(a, requires_grad=True) for a in init]
    opt = gc.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3)
    ref, st = [a.copy() for a in init], [{} for _ in init]
    for _ in range(3):
        for p, a in zip(ps, init):  # gradient of 0.5*|p - a/2|^2
            p.grad = gc.tensor(p.detach().numpy() - 0.5 * a)
        grads = [p.grad.numpy().copy() for p in ps]
        opt.step()
        ref = [np_sgd(r, g, s, lr=0.1, momentum=0.9, dampening=0.3)
               for r, g, s in zip(ref, grads, st)]
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(p.detach().numpy(), r, rtol=0, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_mid_size_parameters_split_per_tensor_across_threads(threads):
    """From 16384 elements in all (below 2^20) each thread takes its part of every tensor,
    parts of 16 elements: odd sizes and a 1-element tensor are all updated, as numpy does."""
    from gradcore import _C
    rng = np.random.default_rng(6)
    init = [rng.standard_normal(n) for n in (5000, 7, 12345, 33, 1)]  # 17386 elements
    ps = [gc.tensor(a, requires_grad=True) for a in init]
    opt = gc.optim.Adam(ps, lr=0.01, weight_decay=0.1)
    ref, st = [a.copy() for a in init], [{} for _ in init]
    old, adaptive = gc.get_num_threads(), _C.adaptive_threads()
    gc.set_num_threads(threads)
    _C.set_adaptive_threads(False)
    try:
        for _ in range(3):
            for p, a in zip(ps, init):
                p.grad = gc.tensor(p.detach().numpy() - 0.5 * a)
            grads = [p.grad.numpy().copy() for p in ps]
            opt.step()
            ref = [np_adam(r, g, s, lr=0.01, weight_decay=0.1) for r, g, s in zip(ref, grads, st)]
    finally:
        gc.set_num_threads(old)
        _C.set_adaptive_threads(adaptive)
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(p.detach().numpy(), r, rtol=0, atol=1e-12)


def test_functional_forms():
    p = gc.tensor([1.0, -2.0], dtype=gc.float64)
    g = gc.tensor([0.5, 0.5], dtype=gc.float64)
    bufs = [None]
    gc.optim.sgd_([p], [g], bufs, lr=0.1, momentum=0.9)
    assert isinstance(bufs[0], gc.Tensor)
    np.testing.assert_allclose(bufs[0].numpy(), [0.5, 0.5])
    np.testing.assert_allclose(p.numpy(), [0.95, -2.05])
    m, v, step = np.zeros(2), np.zeros(2), np.zeros(())
    a = np.array([1.0, -2.0])
    gc.optim.adam_([a], [np.array([0.5, 0.5])], [m], [v], [None], [step], amsgrad=False,
                   beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0, eps=1e-8)
    assert step == 1.0
    np.testing.assert_allclose(a, [0.9, -2.1], atol=1e-7)  # first Adam step moves lr*sign(g)


def test_fused_kernel_checks_its_arguments():
    p, g, m, v = (np.zeros((2, 3)) for _ in range(4))
    h5, h4 = np.array([0.1, 0.9, 0.999, 1e-8, 0]), np.array([0.1, 0, 0, 0.0])
    with pytest.raises(ValueError, match=r"exp_avg_sq has shape \(3,\) but the param has shape \(2, 3\)"):
        run(K.adam_step, h5, p, g, m, np.zeros(3), np.zeros(()), 0, 0)
    with pytest.raises(ValueError, match="expected tuples of 5"):
        run(K.adam_step, h5, p, g, m, v, 0, 0)
    with pytest.raises(TypeError, match="step must be a 1-element float64"):
        run(K.adam_step, h5, p, g, m, v, np.zeros((), np.float32), 0, 0)
    with pytest.raises(TypeError, match="grad is float32 but the param is float64"):
        run(K.sgd_step, h4, p, np.zeros((2, 3), np.float32), 0, 0)
    with pytest.raises(ValueError, match="missing attribute 'centered'"):
        run(K.rmsprop_step, h5, p, g, np.zeros(()), v)
    with pytest.raises(ValueError, match=r"hyper must be a \(5,\) float64 tensor \(lr, beta1"):
        run(K.adam_step, h4, p, g, m, v, np.zeros(()), 0, 0)
    with pytest.raises(TypeError, match="adam_step: input 'hyper' must be float64"):
        run(K.adam_step, h5.astype(np.float32), p, g, m, v, np.zeros(()), 0, 0)


def test_step_with_closure_returns_its_loss():
    P = make_params()
    opt = gc.optim.RMSprop(list(P.values()))

    def closure():
        opt.zero_grad()
        loss = mlp_loss(P, *BATCHES[0])
        loss.backward()
        return loss

    with gc.no_grad():  # the closure still runs with grad enabled
        loss = opt.step(closure)
    assert isinstance(loss, gc.Tensor) and loss.item() > 0
    assert opt.state[P["W1"]]["step"].item() == 1.0


def test_backward_through_a_graph_made_before_an_optimizer_step_raises():
    # torch: "one of the variables needed for gradient computation has been modified by an
    # inplace operation" -- the step changed a parameter the graph saved; never a silent answer
    for make_opt in (lambda ps: gc.optim.SGD(ps, lr=0.1, momentum=0.9),
                     lambda ps: gc.optim.Adam(ps, lr=0.1),
                     lambda ps: gc.optim.LBFGS(ps, lr=0.1, max_iter=2)):
        lin = gc.nn.Linear(3, 2)
        opt = make_opt(lin.parameters())
        x = gc.randn(4, 3)
        loss1 = (lin(x) ** 2).sum()
        loss2 = (lin(x) ** 2).sum()

        def closure():
            opt.zero_grad()
            loss = (lin(x) ** 2).sum()
            loss.backward()
            return loss
        loss1.backward()
        opt.step(closure)
        with pytest.raises(RuntimeError, match=r"parameter saved by MmBackward0|updated by"):
            loss2.backward()
    # a forward pass after the step is fine, and so is the ordinary loop
    lin = gc.nn.Linear(3, 2)
    opt = gc.optim.Adam(lin.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (lin(x) ** 2).sum().backward()
        opt.step()
    assert lin.weight._version >= 3
