"""Backward hooks as torch's: register_hook (may replace the gradient), retain_grad,
register_post_accumulate_grad_hook (fires as each leaf's gradient is ready), node hooks."""
import numpy as np
import pytest

import gradcore as gc
from gradcore import engine


def test_leaf_hook_sees_and_replaces_the_gradient():
    x = gc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: (seen.append(g.numpy().copy()), g * 2)[1])
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [2, 4, 6])
    np.testing.assert_array_equal(x.grad.numpy(), [4, 8, 12])
    h.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 4, 6])
    assert len(seen) == 1


def test_nonleaf_hook_changes_what_flows_upstream():
    x = gc.tensor([1.0, -2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g * 0 + 1)     # replace dL/dy by ones
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_hook_returning_a_wrong_shape_raises():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: gc.ones(3))
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).sum().backward()


def test_retain_grad_keeps_nonleaf_gradients_and_accumulates():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    assert y.retains_grad and not x.retains_grad
    z = (y * 3).sum()
    z.backward(retain_graph=True)
    np.testing.assert_array_equal(y.grad.numpy(), [3, 3])
    z.backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6, 6])
    x.retain_grad()  # no-op on a leaf
    w = x * 2
    assert w.grad is None


def test_post_accumulate_hooks_fire_once_each_as_gradients_become_ready():
    """Deepest layer first: the last layer's parameters are complete before the first's rule
    runs, so their hooks fire while backward still has work (what overlapped allreduce needs)."""
    gc.manual_seed(0)
    model = gc.nn.Sequential(gc.nn.Linear(4, 8), gc.nn.Tanh(), gc.nn.Linear(8, 3))
    order, rules_after = [], []
    names = {id(p): n for n, p in model.named_parameters()}
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(lambda t: order.append(names[id(t)]))
    hook = lambda node, g, ins: rules_after.append((node.prim.name, len(order)))  # noqa: E731
    engine.node_hooks.append(hook)
    try:
        model(gc.randn(5, 4)).sum().backward()
    finally:
        engine.node_hooks.remove(hook)
    assert sorted(order) == sorted(names.values()) and len(order) == 4
    assert order.index("2.weight") < order.index("0.weight")
    # the first layer's rule ran after the last layer's parameters were delivered
    assert rules_after[-1][0] == "linear" and rules_after[-1][1] >= 2
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape


def test_post_accumulate_hook_on_nonleaf_raises():
    x = gc.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)


def test_shared_leaf_is_delivered_once_with_the_summed_gradient():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    (x * 2 + x * x + x).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [5, 7])


def test_hooks_apply_to_autograd_grad_inputs():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (g,) = gc.autograd.grad((x * x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [20, 40])
    assert x.grad is None
