"""gc.Tensor basics: creation and dtype inference (as torch), zero-copy numpy interop,
64-byte aligned storage, the global generator, and the small methods (repr, item, len, ...)."""
import numpy as np
import pytest

import gradcore as gc


# ---- creation and dtype inference -----------------------------------------------------------
@pytest.mark.parametrize("data, dtype, shape", [
    ([1.0, 2.0], gc.float32, (2,)), ([1, 2], gc.int64, (2,)), ([True, False], gc.bool, (2,)),
    ([1, 2.5], gc.float32, (2,)), ([[1, 2], [3, 4]], gc.int64, (2, 2)), (3.0, gc.float32, ()),
    (3, gc.int64, ()), (True, gc.bool, ()), ([], gc.float32, (0,)),
    (np.array([1.0], np.float32), gc.float32, (1,)), (np.array([1.0]), gc.float64, (1,)),
    (np.array([[1]], np.int64), gc.int64, (1, 1)), (np.array([True]), gc.bool, (1,)),
    (np.float64(1.5), gc.float64, ()), (np.float32(1.5), gc.float32, ()),
])
def test_dtype_inference_as_torch(data, dtype, shape):
    t = gc.tensor(data)
    assert t.dtype == dtype and t.shape == shape and isinstance(t.shape, tuple)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


def test_tensor_copies_and_takes_dtype():
    a = np.array([1.0, 2.0])
    t = gc.tensor(a)
    a[0] = 9.0
    assert t.numpy()[0] == 1.0
    assert gc.tensor([1, 2], dtype=gc.float64).dtype == gc.float64
    assert gc.tensor([1.5], dtype="float64").dtype == gc.float64
    assert gc.tensor(a, dtype=gc.float32).dtype == gc.float32
    u = gc.tensor(t)  # a copy of a tensor
    assert not np.shares_memory(u.numpy(), t.numpy())
    v = gc.Tensor([1.0, 2.0])
    assert v.dtype == gc.float32 and v.shape == (2,)


@pytest.mark.parametrize("make, dtype", [
    (lambda: gc.zeros(2, 3), gc.float32), (lambda: gc.ones((2, 3)), gc.float32),
    (lambda: gc.empty([2, 3]), gc.float32), (lambda: gc.full((2, 3), 1.5), gc.float32),
    (lambda: gc.full((2, 3), 7), gc.int64), (lambda: gc.full((2, 3), True), gc.bool),
    (lambda: gc.zeros(2, 3, dtype=gc.float64), gc.float64),
    (lambda: gc.ones(2, 3, dtype=gc.int64), gc.int64),
    (lambda: gc.randn(2, 3), gc.float32), (lambda: gc.rand((2, 3), dtype=gc.float64), gc.float64),
    (lambda: gc.zeros_like(gc.ones(2, 3, dtype=gc.float64)), gc.float64),
    (lambda: gc.ones_like(np.zeros((2, 3), np.int64)), gc.int64),
])
def test_creation_functions(make, dtype):
    t = make()
    assert t.shape == (2, 3) and t.dtype == dtype and not t.requires_grad and t.is_leaf


def test_creation_values_and_requires_grad():
    assert np.all(gc.zeros(4).numpy() == 0) and np.all(gc.ones(2, 2).numpy() == 1)
    np.testing.assert_array_equal(gc.full((2,), -2.5).numpy(), [-2.5, -2.5])
    assert gc.zeros(()).shape == () and gc.zeros(0, 3).shape == (0, 3)
    for t in (gc.zeros(2, requires_grad=True), gc.randn(2, requires_grad=True),
              gc.full((2,), 1.0, requires_grad=True), gc.ones_like(gc.zeros(2), requires_grad=True)):
        assert t.requires_grad and t.is_leaf and t.grad is None
    with pytest.raises(ValueError, match="negative dimension"):
        gc.zeros(-1)


# ---- zero-copy numpy interop --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_and_back_share_memory(dtype):
    a = np.zeros((2, 3), dtype)
    t = gc.from_numpy(a)
    assert t.dtype == a.dtype and np.shares_memory(t.numpy(), a)
    a[0, 1] = 1
    assert t.numpy()[0, 1] == 1
    t.numpy()[1, 2] = 1
    assert a[1, 2] == 1
    assert np.shares_memory(np.asarray(t), a)


def test_numpy_views_of_core_storage():
    t = gc.ones(3)
    a, b = t.numpy(), np.asarray(t)
    assert np.shares_memory(a, b)
    a[0] = 5.0
    assert t[0].item() == 5.0 and b[0] == 5.0
    assert np.asarray(t, dtype=np.float64).dtype == np.float64  # a dtype request copies
    d = gc.ones(2, requires_grad=True).detach()
    assert np.shares_memory(d.numpy(), np.asarray(d))


def test_from_numpy_refuses_what_it_cannot_share():
    with pytest.raises(ValueError, match="C-contiguous"):
        gc.from_numpy(np.zeros((3, 3))[:, 0])
    with pytest.raises(TypeError, match="int32 is not supported"):
        gc.from_numpy(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="expected a numpy.ndarray"):
        gc.from_numpy([1.0])


def test_functions_take_numpy_arrays():
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    for out in (gc.exp(a), gc.sum(a, 0), gc.softmax(a, 1), gc.matmul(a, a.T), gc.relu(a)):
        assert isinstance(out, gc.Tensor) and out.dtype == gc.float64


# ---- storage alignment ---------------------------------------------------------------------
def test_core_storage_is_64_byte_aligned():
    ts = [gc.zeros(n) for n in (0, 1, 3, 17, 1000, 100_003)] + [gc.empty(5, 7, dtype=gc.float64)]
    x = gc.randn(7, 3, requires_grad=True)
    y = (gc.exp(x) @ gc.ones(3, 5)).sum(1)
    y.sum().backward()
    ts += [y, x.grad, gc.randn(13), gc.tensor([1, 2, 3]), gc.tensor([True])]
    for t in ts:
        assert t.detach().numpy().ctypes.data % 64 == 0, t.shape


# ---- the global generator --------------------------------------------------------------------
def test_manual_seed_reproduces_the_sequence():
    gc.manual_seed(123)
    a, b = gc.randn(5), gc.rand(2, 3, dtype=gc.float64)
    gc.manual_seed(123)
    np.testing.assert_array_equal(gc.randn(5).numpy(), a.numpy())
    np.testing.assert_array_equal(gc.rand(2, 3, dtype=gc.float64).numpy(), b.numpy())
    gc.manual_seed(124)
    assert not np.array_equal(gc.randn(5).numpy(), a.numpy())
    c = gc.randn(5)
    assert not np.array_equal(c.numpy(), gc.randn(5).numpy())  # the stream moves on


def test_random_numbers_do_not_depend_on_thread_count():
    prev = gc.get_num_threads()
    draws = []
    try:
        for n in (1, 2):
            gc.set_num_threads(n)
            assert gc.get_num_threads() == n
            gc.manual_seed(7)
            draws.append((gc.randn(300_000).numpy().copy(), gc.rand(70_000, dtype=gc.float64).numpy().copy()))
    finally:
        gc.set_num_threads(prev)
    for a, b in zip(*draws):
        np.testing.assert_array_equal(a, b)
    z, u = draws[0]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


# ---- small methods ----------------------------------------------------------------------------
def test_repr_as_torch():
    assert repr(gc.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(gc.tensor(3.0)) == "tensor(3.)"
    assert repr(gc.tensor([1.0], dtype=gc.float64)) == "tensor([1.], dtype=gradcore.float64)"
    assert repr(gc.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert "grad_fn=<" in repr(gc.tensor([1.0], requires_grad=True) * 2)


def test_repr_default_dtypes_and_empty_as_torch():
    # torch prints no dtype for its default int (int64) and for bool, and the size of empty
    # tensors: tensor([1, 2]), tensor([True, False]), tensor([], size=(0, 3)).
    assert repr(gc.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(gc.tensor([True, False])) == "tensor([ True, False])"
    assert repr(gc.zeros(0, 3)) == "tensor([], size=(0, 3))"


def test_item_len_shape_and_friends():
    t = gc.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert len(t) == 2 and t.ndim == 2 and t.shape == (2, 3) and t.numel() == 6
    assert t.size() == (2, 3) and t.size(1) == 3 and t.dim() == 2
    v = gc.tensor(2.5).item()
    assert v == 2.5 and type(v) is float
    assert type(gc.tensor([3]).item()) is int and type(gc.tensor(True).item()) is bool
    assert t[1, 2].item() == 6.0 and float(gc.tensor([2.5])) == 2.5 and int(gc.tensor(3)) == 3
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_detach_and_requires_grad_():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    z = gc.zeros(2)
    assert z.requires_grad_() is z and z.requires_grad
    assert z.requires_grad_(False) is z and not z.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    (z.requires_grad_() * 3.0).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [3.0, 3.0])


def test_no_grad_and_enable_grad():
    x = gc.ones(2, requires_grad=True)
    with gc.no_grad():
        y = x * 2.0
        with gc.enable_grad():
            w = x * 2.0
    assert not y.requires_grad and y.is_leaf and w.requires_grad

    @gc.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad and (x * 1.0).requires_grad
