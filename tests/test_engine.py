"""Engine behaviour: fan-out, unused inputs, seeds, freed graphs, deep chains, grad()."""
import numpy as np
import pytest

import gradcore as gc


def test_fanout_accumulates():
    x = gc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x + x * 3.0 + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2, 3]) + 4)


def test_reuse_of_intermediate():
    x = gc.tensor([0.5, -1.0], dtype=gc.float64, requires_grad=True)
    h = x.exp()
    y = (h * h + h).sum()
    y.backward()
    e = np.exp([0.5, -1.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e)


def test_grad_accumulates_across_backwards():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_unused_input_gets_no_grad_and_grad_allow_unused():
    x = gc.tensor([1.0], requires_grad=True)
    z = gc.tensor([1.0], requires_grad=True)
    y = (x * 2.0).sum()
    gx, gz = gc.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx.numpy()[0] == 2.0
    assert x.grad is None


def test_nonscalar_backward_needs_gradient():
    x = gc.randn(3, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(gc.ones(3))
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_backward_twice_without_retain_raises():
    x = gc.randn(3, requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_ten_thousand_op_chain():
    x = gc.tensor([0.5], dtype=gc.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_add_passthrough_grads_are_not_aliased():
    a = gc.randn(2, 3, requires_grad=True)
    b = gc.randn(2, 3, requires_grad=True)
    (a.reshape(6) + b.reshape(6)).sum().backward()
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), np.ones((2, 3)))


def test_no_grad_and_detach():
    x = gc.randn(2, requires_grad=True)
    with gc.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert not x.detach().requires_grad

    @gc.no_grad()
    def f(t):
        return t * 3.0
    assert not f(x).requires_grad
    with gc.no_grad():
        with gc.enable_grad():
            assert (x * 1.0).requires_grad


def test_broadcast_grad_reduced_to_input_shape():
    a = gc.randn(4, 3, requires_grad=True)
    b = gc.randn(3, requires_grad=True)
    c = gc.randn(4, 1, requires_grad=True)
    (a * b + c).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), a.detach().numpy().sum(0), rtol=1e-5)
    np.testing.assert_allclose(c.grad.numpy(), np.ones((4, 1)) * 3)


def test_numpy_zero_copy_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = gc.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    v = gc.zeros(3).numpy()
    v[1] = 7
    assert v.ctypes.data % 64 == 0


def test_grad_mode_is_per_thread_and_set_grad_enabled_restores():
    import threading
    x = gc.randn(2, requires_grad=True)
    seen = []
    with gc.no_grad():
        t = threading.Thread(target=lambda: seen.append((x * 2.0).requires_grad))
        t.start()
        t.join()
        assert not (x * 2.0).requires_grad
    assert seen == [True]  # no_grad in this thread left the other thread alone
    with gc.set_grad_enabled(False):
        assert not gc.is_grad_enabled()
        with gc.set_grad_enabled(False):
            pass
        assert not gc.is_grad_enabled()
    assert gc.is_grad_enabled()

    @gc.set_grad_enabled(False)
    def f():
        return (x * 2.0).requires_grad
    assert gc.is_grad_enabled() and f() is False and gc.is_grad_enabled()
