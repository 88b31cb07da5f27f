"""PyTorch parity beyond the op table: in-place semantics and their autograd safety (version
counters), integer/bool ops against numpy, devices, autograd.Function, printing, data
utilities and the messages a porting user meets."""
import math
import pickle  # noqa: F401  (gc.load must not need it)

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn.functional as F
from gradcore.utils.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate,
                                 random_split)


# ---- in-place semantics -------------------------------------------------------------------------
def test_param_minus_equals_updates_the_same_tensor():
    w = gc.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    ref = w
    with gc.no_grad():
        w -= 0.1 * w.grad
    assert w is ref and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    lin = gc.nn.Linear(3, 1)
    before = lin.weight.detach().numpy().copy()
    lin(gc.ones(2, 3)).sum().backward()
    with gc.no_grad():
        for p in lin.parameters():
            p -= 0.5 * p.grad
    np.testing.assert_allclose(lin.weight.detach().numpy(), before - 0.5 * 2, rtol=1e-6)


@pytest.mark.parametrize("op, call", [
    ("add_", lambda p: p.add_(1.0)), ("__iadd__ via add_", None), ("mul_", lambda p: p.mul_(2)),
    ("copy_", lambda p: p.copy_(gc.zeros(3))), ("zero_", lambda p: p.zero_()),
    ("exp_", lambda p: p.exp_()), ("__setitem__", lambda p: p.__setitem__(0, 1.0)),
])
def test_inplace_on_leaf_requiring_grad_raises_naming_the_op(op, call):
    p = gc.ones(3, requires_grad=True)
    name = op.split()[-1]
    with pytest.raises(RuntimeError, match=f"{re_escape(name)}.*: a leaf Variable that requires "
                       "grad is being used in an in-place operation.*no_grad"):
        if call is None:
            p += 1
        else:
            call(p)
    with gc.no_grad():  # allowed under no_grad
        (call or (lambda t: t.add_(1)))(p)


def re_escape(s):
    import re
    return re.escape(s)


@pytest.mark.parametrize("modify, opname", [
    (lambda y: y.add_(1), "add_"), (lambda y: y.mul_(2.0), "mul_"),
    (lambda y: y.__setitem__(0, 5.0), "__setitem__"), (lambda y: y.zero_(), "zero_"),
    (lambda y: y.sigmoid_(), "sigmoid_"),
])
def test_inplace_on_a_saved_tensor_raises_at_backward(modify, opname):
    x = gc.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = x.exp()            # exp saves its output
    z = y.sum()
    with gc.no_grad():
        modify(y)
    with pytest.raises(RuntimeError, match="a tensor needed for gradient computation was "
                       f"modified by an in-place operation.*ExpBackward0.*{re_escape(opname)}"):
        z.backward()


def test_inplace_on_saved_input_through_a_view_and_data():
    x = gc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()      # mul saves h
    h.view(-1).data.add_(1.0)  # the same storage, through a view of .data
    with pytest.raises(RuntimeError, match="modified by add_"):
        y.backward()
    assert h._version == 1


def test_inplace_inside_the_graph_is_differentiated():
    x = gc.tensor([0.3, -0.7, 1.1], dtype=gc.float64, requires_grad=True)

    def f(x):
        h = x * 2.0
        h += x
        h.mul_(x)
        h[1] = 0.0
        h.sigmoid_()
        return h
    assert gc.autograd.gradcheck(f, [x])
    h = f(x)
    assert h.grad_fn is not None and not h.is_leaf


def test_inplace_with_an_argument_that_requires_grad_records():
    w = gc.tensor([1.0, 2.0], requires_grad=True)
    acc = gc.zeros(2)
    acc += w * 3
    acc.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


def test_version_counter_and_no_false_alarm():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    other = gc.zeros(2)
    other.add_(1.0)            # unrelated storage
    y.sum().backward()         # no error
    assert other._version == 1 and x._version == 0


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid",
                                  "relu", "neg", "floor", "ceil", "round", "sign", "log1p",
                                  "expm1", "erf", "trunc", "reciprocal", "square"])
def test_unary_inplace_twins_match_out_of_place(name):
    a = np.array([[0.2, 1.3], [2.5, 0.7]], np.float32)
    t = gc.tensor(a)
    ref = getattr(gc, name)(t).numpy().copy()
    alias = t.view(-1)
    out = getattr(t, name + "_")()
    assert out is t
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(alias.numpy(), ref.reshape(-1), rtol=1e-6)


def test_binary_inplace_forms():
    t = gc.tensor([1.0, 2.0, 4.0])
    t.add_(gc.tensor([1.0, 1.0, 1.0]), alpha=2)
    t.sub_(1)
    t.mul_(gc.tensor(2.0))
    t /= 2
    t **= 2
    t.clamp_(max=9.0)
    t.addcmul_(gc.ones(3), gc.ones(3), value=0.5)
    np.testing.assert_allclose(t.numpy(), [4.5, 9.5, 9.5])
    i = gc.tensor([7, -7, 9])
    i //= 2
    i %= 3
    np.testing.assert_array_equal(i.numpy(), [0, 2, 1])
    with pytest.raises(TypeError, match="can't be cast"):
        gc.tensor([1, 2]).mul_(1.5)
    with pytest.raises(ValueError, match="doesn't match the broadcast shape"):
        gc.ones(3).add_(gc.ones(2, 3))


def test_setitem_index_kinds():
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    for idx, v in [((1,), 0.0), ((slice(None), 2), np.array([7.0, 8.0, 9.0], np.float32)),
                   ((Ellipsis, -1), 1.5), (([0, 2], [1, 3]), -1.0), (a > 6, 0.0),
                   ((slice(None), [0, 2]), np.array([[1.0, 2.0]], np.float32)),
                   ((np.array([True, False, True]),), 3.0)]:
        t, ref = gc.tensor(a), a.copy()
        key = idx[0] if len(idx) == 1 and not isinstance(idx[0], tuple) else idx
        t[key] = gc.tensor(v) if isinstance(v, np.ndarray) else v
        ref[key] = v
        np.testing.assert_array_equal(t.numpy(), ref)
    t = gc.tensor([1, 2, 3])
    t[t > 1] = 0
    np.testing.assert_array_equal(t.numpy(), [1, 0, 0])
    with pytest.raises(TypeError, match="can't be written"):
        t[0] = gc.tensor(1.5)


def test_data_get_and_set():
    w = gc.tensor([1.0, 2.0], requires_grad=True)
    w.data.mul_(2.0)           # no error, same storage
    np.testing.assert_allclose(w.detach().numpy(), [2.0, 4.0])
    w.data = gc.tensor([5.0, 6.0, 7.0])
    assert w.shape == (3,) and w.requires_grad and w.is_leaf


# ---- integer and bool ops ------------------------------------------------------------------------
A = np.array([7, -7, 5, -5, 0, 12], np.int64)
B = np.array([2, 2, -3, -3, 5, 5], np.int64)


@pytest.mark.parametrize("op, ref", [
    (lambda a, b: a // b, np.floor_divide), (lambda a, b: a % b, np.mod),
    (lambda a, b: a & b, np.bitwise_and), (lambda a, b: a | b, np.bitwise_or),
    (lambda a, b: a ^ b, np.bitwise_xor), (lambda a, b: gc.fmod(a, b), np.fmod),
    (lambda a, b: gc.div(a, b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b).astype(np.int64)),
    (lambda a, b: gc.div(a, b, rounding_mode="floor"), np.floor_divide),
    (lambda a, b: a << (b % 4), lambda a, b: np.left_shift(a, np.mod(b, 4))),
    (lambda a, b: a >> (b % 4), lambda a, b: np.right_shift(a, np.mod(b, 4))),
])
def test_integer_ops_match_numpy(op, ref):
    out = op(gc.tensor(A), gc.tensor(B))
    assert out.dtype == gc.int64
    np.testing.assert_array_equal(out.numpy(), ref(A, B))
    out = op(gc.tensor(A), 3)  # a Python int keeps int64
    assert out.dtype == gc.int64
    np.testing.assert_array_equal(out.numpy(), ref(A, np.int64(3)))


def test_integer_promotion_and_errors():
    t = gc.tensor(A)
    assert (t // 2.0).dtype == gc.float32            # float scalar -> default float
    assert (t % gc.tensor(2.0, dtype=gc.float64)).dtype == gc.float64
    assert (gc.ones(3, dtype=gc.float64) // gc.tensor([2, 2, 2])).dtype == gc.float64
    assert (7 // gc.tensor([2, 3])).tolist() == [3, 2]
    assert (gc.div(gc.tensor([7, 8]), 2)).dtype == gc.float32  # true division of ints
    b = gc.tensor([True, False, True])
    np.testing.assert_array_equal((~b).numpy(), [False, True, False])
    np.testing.assert_array_equal((b & gc.tensor([True, True, False])).numpy(), [True, False, False])
    np.testing.assert_array_equal((b | False).numpy(), [True, False, True])
    np.testing.assert_array_equal((~gc.tensor([0, 5])).numpy(), [-1, -6])
    np.testing.assert_array_equal(gc.logical_and(gc.tensor([1, 0]), gc.tensor([2.0, 3.0])).numpy(),
                                  [True, False])
    with pytest.raises(ValueError, match="division by zero"):
        gc.tensor([1, 2]) // gc.tensor([1, 0])
    with pytest.raises(TypeError, match="bitwise"):
        gc.ones(2) & gc.ones(2)
    with pytest.raises(TypeError, match="~"):
        ~gc.ones(2)
    with pytest.raises(ValueError, match="rounding_mode"):
        gc.div(gc.ones(2), 2, rounding_mode="round")


def test_non_differentiable_functions_match_numpy():
    x = np.array([[3.0, np.nan, -np.inf], [1.0, 1.0, np.inf]], np.float32)
    t = gc.tensor(x)
    np.testing.assert_array_equal(gc.isnan(t).numpy(), np.isnan(x))
    np.testing.assert_array_equal(t.isfinite().numpy(), np.isfinite(x))
    np.testing.assert_array_equal(gc.isinf(t).numpy(), np.isinf(x))
    np.testing.assert_array_equal(gc.nan_to_num(t, nan=0.0, posinf=1.0, neginf=-1.0).numpy(),
                                  np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0))
    y = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, np.nan, -1.0, 4.0]], np.float32)
    ty = gc.tensor(y)
    np.testing.assert_array_equal(ty.argsort(dim=1).numpy(), np.argsort(y, 1, kind="stable"))
    v, i = ty.sort(dim=1, descending=True)
    assert np.isnan(v.numpy()[1, 0]) and i.numpy()[1, 0] == 1  # NaN sorts as the largest
    np.testing.assert_array_equal(ty.topk(2, dim=1, largest=False).indices.numpy()[0], [1, 3])
    np.testing.assert_array_equal(gc.nonzero(gc.tensor(y > 1)).numpy(), np.argwhere(y > 1))
    u, inv, cnt = gc.unique(gc.tensor([3, 1, 3, 2]), return_inverse=True, return_counts=True)
    assert u.tolist() == [1, 2, 3] and inv.tolist() == [2, 0, 2, 1] and cnt.tolist() == [1, 1, 2]
    assert gc.all(gc.tensor([True, True])).item() and not gc.any(gc.tensor([0, 0])).item()
    np.testing.assert_array_equal(gc.tensor([[1, 0], [1, 1]]).all(dim=1).numpy(), [False, True])
    assert gc.allclose(gc.ones(3), gc.ones(3) + 1e-9) and not gc.allclose(gc.ones(3), gc.zeros(3))
    np.testing.assert_array_equal(gc.cumsum(gc.tensor([1, 2, 3]), 0).numpy(), [1, 3, 6])
    assert gc.tensor([2, 3, 4]).prod().item() == 24
    c = gc.cummax(gc.tensor([1.0, 3.0, 3.0, 2.0]), 0)
    assert c.indices.tolist() == [0, 1, 2, 2]   # ties take the later index, as torch
    z = np.array([[1.0, -np.inf], [np.inf, 0.0]], np.float32)
    np.testing.assert_array_equal(gc.isposinf(gc.tensor(z)).numpy(), np.isposinf(z))
    np.testing.assert_array_equal(gc.isneginf(gc.tensor(z)).numpy(), np.isneginf(z))
    np.testing.assert_array_equal(gc.argwhere(gc.tensor(z) > 0).numpy(), np.argwhere(z > 0))
    nz = gc.nonzero(gc.tensor([0, 3, 0, 4]), as_tuple=True)
    assert len(nz) == 1 and nz[0].tolist() == [1, 3]
    assert gc.bincount(gc.tensor([0, 2, 2, 5])).tolist() == [1, 0, 2, 0, 0, 1]
    assert gc.equal(gc.ones(2), gc.ones(2)) and not gc.equal(gc.ones(2), gc.ones(3))
    p, q = gc.tensor([True, False, True]), gc.tensor([0, 0, 3])
    assert gc.logical_or(p, q).tolist() == [True, False, True]
    assert gc.logical_xor(p, q).tolist() == [True, False, False]
    assert gc.logical_not(q).tolist() == [True, True, False]
    e = gc.eye(2, 3)
    np.testing.assert_array_equal(e.numpy(), np.eye(2, 3))
    assert gc.randn_like(e).shape == (2, 3) and gc.rand_like(e).dtype == gc.float32
    r = gc.randint_like(gc.zeros(100), 3, 5)
    assert r.dtype == gc.float32 and set(np.unique(r.numpy())) <= {3.0, 4.0}
    assert gc.tensor([1.5]).int().dtype == gc.int64 and gc.ones(2).type(gc.float64).dtype == gc.float64
    assert gc.ones(2).type() == "torch.FloatTensor"
    assert gc.ones(2).type("torch.LongTensor").dtype == gc.int64


# ---- devices --------------------------------------------------------------------------------------
def test_devices_speak_torch_on_the_cpu():
    d = gc.device("cuda" if gc.cuda.is_available() else "cpu")
    assert d == gc.device("cpu") == "cpu" and str(d) == "cpu" and repr(d) == "device(type='cpu')"
    assert gc.ones(2).device == d and gc.ones(2).device.type == "cpu"
    t = gc.zeros(2, 3, device=d)
    for make in (lambda: gc.ones(2, device="cpu"), lambda: gc.tensor([1.0], device=d),
                 lambda: gc.randn(2, device="cpu"), lambda: gc.arange(3, device=d),
                 lambda: gc.full((2,), 1.0, device=d), lambda: gc.eye(2, device=d),
                 lambda: gc.zeros_like(t, device=d), lambda: gc.randint(0, 3, (2,), device=d)):
        assert make().device == "cpu"
    assert t.to(d) is t and t.to(d, gc.float64).dtype == gc.float64
    assert t.to("cpu", dtype=gc.float64).dtype == gc.float64 and t.cpu() is t
    assert t.to(gc.ones(1, dtype=gc.float64)).dtype == gc.float64
    assert t.to(d, non_blocking=True) is t
    assert not gc.cuda.is_available() and gc.cuda.device_count() == 0
    assert not gc.accelerator.is_available() and gc.accelerator.current_accelerator() is None
    assert not gc.backends.mps.is_available()
    m = gc.nn.Linear(2, 2, device=d).to(d)
    for layer in (gc.nn.Embedding(3, 2, device="cpu"), gc.nn.BatchNorm1d(2, device=d),
                  gc.nn.LayerNorm(2, device=d)):
        assert next(layer.parameters()).device == "cpu"
    assert m.to(gc.device("cpu")) is m
    for bad in (lambda: gc.device("cuda"), lambda: gc.device("mps"), lambda: t.to("cuda"),
                lambda: t.to("cuda:0"), lambda: gc.zeros(2, device="cuda"), lambda: t.cuda(),
                lambda: m.to("cuda"), lambda: gc.tensor([1.0], device="mps"),
                lambda: gc.nn.Linear(2, 2, device="cuda")):
        with pytest.raises(RuntimeError, match="gradcore runs on the CPU only"):
            bad()


# ---- autograd.Function --------------------------------------------------------------------------
class Scale(gc.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, factor):
        ctx.save_for_backward(x, w)
        ctx.factor = factor
        ctx.seen = ctx.needs_input_grad
        return x * w * factor

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g * w * ctx.factor, g * x * ctx.factor, None


def test_function_needs_input_grad_and_saved_tensors():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    w = gc.tensor([3.0, 4.0])
    y = Scale.apply(x, w, 2.0)
    assert y.requires_grad and repr(y.grad_fn) == "<ScaleBackward0>"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 8.0])
    with gc.no_grad():
        assert not Scale.apply(x, w, 2.0).requires_grad
    y = Scale.apply(x, w, 1.0)
    w.add_(1.0)               # a saved tensor modified in place
    with pytest.raises(RuntimeError, match="modified by add_"):
        y.sum().backward()
    xs = gc.tensor([0.1, 0.2, 0.3], dtype=gc.float64, requires_grad=True)
    ws = gc.tensor([1.0, -2.0, 0.5], dtype=gc.float64, requires_grad=True)
    assert gc.autograd.gradcheck(lambda a, b: Scale.apply(a, b, 3.0), [xs, ws])


# ---- printing -------------------------------------------------------------------------------------
def test_repr_and_format_as_torch():
    a = gc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = gc.tensor([[0.5, 0.25], [1.0, 2.0]])
    assert repr(a) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    assert repr(a * b).endswith("grad_fn=<MulBackward0>)")
    assert repr(gc.tensor([0.123456, 1.5])) == "tensor([0.1235, 1.5000])"
    assert repr(gc.tensor([1, 2])) == "tensor([1, 2])"
    loss = (a * b).sum()
    assert f"{loss:.4f}" == "12.0000" and f"{loss.item():>8.2f}" == "   12.00"
    assert f"{gc.tensor([2.5]):.1f}" == "2.5" and f"{a}" == repr(a)
    with pytest.raises(TypeError, match="item"):
        f"{a:.2f}"
    assert repr(a.size()) == "gradcore.Size([2, 2])" and a.size() == (2, 2)


# ---- data -----------------------------------------------------------------------------------------
class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {"x": gc.tensor([float(i)]), "y": i * i, "name": f"s{i}"}


def test_map_style_dataset_collates_as_torch():
    dl = DataLoader(Squares(), batch_size=4, shuffle=False, num_workers=2, pin_memory=True,
                    persistent_workers=False)
    batches = list(dl)
    assert len(batches) == 3 and batches[0]["x"].shape == (4, 1)
    assert batches[0]["y"].tolist() == [0, 1, 4, 9] and batches[0]["name"] == ["s0", "s1", "s2", "s3"]
    assert default_collate([(1.0, 2), (3.0, 4)])[0].dtype == gc.float64
    custom = DataLoader(Squares(), batch_size=5, collate_fn=lambda b: len(b))
    assert list(custom) == [5, 5]


def test_tensor_dataset_split_subset():
    ds = TensorDataset(gc.arange(10.0).reshape(10, 1), gc.arange(10))
    gc.manual_seed(0)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3 and not set(a.indices) & set(b.indices)
    c, d = random_split(ds, [0.5, 0.5])
    assert len(c) == len(d) == 5
    xs, ys = next(iter(DataLoader(Subset(ds, [1, 3, 5]), batch_size=3)))
    assert ys.tolist() == [1, 3, 5] and xs.shape == (3, 1)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=True)))
    assert isinstance(batch, list) and batch[0].shape == (4, 1)


def test_load_accepts_torch_keywords(tmp_path):
    m = gc.nn.Linear(2, 3)
    gc.save(m.state_dict(), tmp_path / "m.pth")
    sd = gc.load(tmp_path / "m.pth", map_location="cpu", weights_only=True)
    m2 = gc.nn.Linear(2, 3)
    m2.load_state_dict(sd)
    np.testing.assert_array_equal(m2.weight.detach().numpy(), m.weight.detach().numpy())


# ---- messages and small names ---------------------------------------------------------------------
def test_messages_for_torch_names():
    for name in ("int32", "uint8", "float16"):
        with pytest.raises(AttributeError, match="int64.*gc.long"):
            getattr(gc, name)
    with pytest.raises(AttributeError, match="no gradcore equivalent") as e:
        gc.not_a_torch_function
    assert "Did you mean" not in str(e.value)
    with pytest.raises(TypeError, match="out="):
        gc.zeros(2, out=gc.ones(2))


def test_grad_mode_forms_and_constants():
    @gc.no_grad
    def f(x):
        return x * 2

    @gc.inference_mode()
    def g(x):
        return x * 2
    x = gc.ones(2, requires_grad=True)
    assert not f(x).requires_grad and not g(x).requires_grad and f.__name__ == "f"
    with gc.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    assert gc.pi == math.pi and gc.inf == math.inf
    assert F.pad(gc.ones(2, 2), (1, 1), value=0.0).shape == (2, 4)
    assert gc.linalg.vector_norm(gc.tensor([3.0, 4.0])).item() == pytest.approx(5.0)
