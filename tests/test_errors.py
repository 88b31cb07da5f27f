"""What a new user gets wrong: every mistake raises a clear exception naming the op and the
shapes (or propagates NaN), never a crash."""
import re

import numpy as np
import pytest

import gradcore as gc
from gradcore.dispatch import K, run

BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt", "le", "gt", "ge", "eq",
          "ne"]
OPERATORS = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__",
             "pow": "__pow__", "lt": "__lt__", "eq": "__eq__"}


@pytest.mark.parametrize("op", BINARY)
def test_binary_shape_mismatch_names_op_and_both_shapes(op):
    a, b = gc.zeros(3, 4), gc.ones(5, 6)
    msg = re.escape(f"{op}: shapes (3, 4) and (5, 6) are not broadcastable")
    with pytest.raises(ValueError, match=msg):
        getattr(gc, op)(a, b)
    if op in OPERATORS:
        with pytest.raises(ValueError, match=msg):
            getattr(a, OPERATORS[op])(b)


def test_where_and_expand_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape("where: shapes (3, 4) and (2, 4)")):
        gc.where(gc.zeros(3, 4) > 0, gc.zeros(2, 4), 1.0)
    with pytest.raises(ValueError, match=re.escape("expand: shapes (2, 3) and (4, 3)")):
        gc.zeros(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match=re.escape("cat: tensor 1 has shape (2, 4)")):
        gc.cat([gc.zeros(2, 3), gc.zeros(2, 4)], 0)
    with pytest.raises(ValueError, match=re.escape("stack: tensor 1 has shape (2, 4)")):
        gc.stack([gc.zeros(2, 3), gc.zeros(2, 4)])


@pytest.mark.parametrize("sa, sb, why", [
    ((3, 4), (5, 6), "inner dimensions 4 and 5 differ"),
    ((3,), (4,), "inner dimensions 3 and 4 differ"),
    ((3, 2), (4,), "inner dimensions 2 and 4 differ"),
    ((2, 3, 4), (3, 4, 5), "batch dimensions (2,) and (3,) do not broadcast"),
    ((), (5, 6), "both arguments need at least 1 dimension"),
])
def test_matmul_shape_errors(sa, sb, why):
    with pytest.raises(ValueError, match=re.escape(f"matmul: {sa} @ {sb}: {why}")):
        gc.zeros(*sa) @ gc.zeros(*sb)


@pytest.mark.parametrize("fn, match", [
    (lambda: gc.tensor([1, 2]) @ gc.tensor([3, 4]), "matmul: arithmetic on int64"),
    (lambda: gc.tensor([True]) - gc.tensor([True]), "sub: subtraction, the `-` operator, with two bool"),
    (lambda: -gc.tensor([True, False]), "neg: negation, the `-` operator, on a bool tensor"),
    (lambda: gc.tensor([[1]]) @ gc.tensor([[1]]), "matmul: arithmetic on int64"),
    (lambda: gc.exp(gc.tensor([1])), "exp: expected a float32 or float64 tensor, got int64"),
    (lambda: gc.relu(gc.tensor([True])), "relu: expected a float32 or float64 tensor, got bool"),
    (lambda: gc.tensor([1, 2]).mean(), "mean: expected a float tensor"),
    (lambda: gc.where(gc.tensor([1, 0]), gc.zeros(2), 1.0), "where: condition must be a bool"),
    (lambda: gc.where(gc.tensor([0.0, 1.0]), gc.zeros(2), 1.0), "where: condition must be a bool"),
    (lambda: gc.zeros(2, dtype="complex64"), "unsupported dtype complex64"),
    (lambda: gc.tensor(["a"]), "cannot make a tensor"),
    (lambda: gc.zeros(2) + None, "tensor: data must be numbers"),
    (lambda: gc.max(gc.zeros(2, 3), (0, 1)), "max: dim must be an int"),
    (lambda: gc.softmax(gc.zeros(2, 3), (0, 1)), "softmax: dim must be an int"),
])
def test_wrong_dtypes_raise_type_error(fn, match):
    with pytest.raises(TypeError, match=match):
        fn()


def test_int_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        gc.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only floating point"):
        gc.tensor([True]).requires_grad_()


@pytest.mark.parametrize("fn, op", [
    (lambda x: x.sum(2), "sum"), (lambda x: x.mean(-3), "mean"), (lambda x: x.var(2), "var"),
    (lambda x: x.amax((0, 2)), "amax"), (lambda x: x.max(2), "max"), (lambda x: x.min(-3), "min"),
    (lambda x: gc.softmax(x, 2), "softmax"), (lambda x: gc.log_softmax(x, -3), "log_softmax"),
    (lambda x: gc.logsumexp(x, 2), "logsumexp"), (lambda x: x.transpose(0, 2), "transpose"),
    (lambda x: x.permute(0, 2), "permute"), (lambda x: x.unsqueeze(3), "unsqueeze"),
    (lambda x: x.squeeze(2), "squeeze"), (lambda x: x.flatten(0, 3), "flatten"),
    (lambda x: gc.cat([x, x], 2), "cat"), (lambda x: gc.stack([x, x], 3), "stack"),
])
def test_bad_dims_raise_index_error(fn, op):
    with pytest.raises(IndexError, match=f"{op}: dim -?\\d is out of range for a tensor of \\d dims"):
        fn(gc.zeros(3, 4))


@pytest.mark.parametrize("idx, match", [
    (5, "index 5 is out of bounds"), (-4, "index -4 is out of bounds"),
    ((slice(None), 9), "index 9 is out of bounds for axis 1 with size 4"),
    ((1, 2, 3), "too many indices"), (np.array([0, 7]), "index 7 is out of bounds"),
    (np.array([-5]), "index -5 is out of bounds"), ([0.5], "must be integers or bools"),
    (1.5, "only integers"), (np.array([True, False]), "mask of shape \\(2,\\) does not match"),
])
def test_out_of_range_indices(idx, match):
    x = gc.zeros(3, 4, requires_grad=True)
    with pytest.raises(IndexError, match=match):
        x[idx]


@pytest.mark.parametrize("fn, match", [
    (lambda x: x.reshape(4, 2), r"reshape: shape \(4, 2\) is invalid for input of shape \(2, 3\)"),
    (lambda x: x.view(-1, 4), r"shape \(-1, 4\) is invalid for input of shape \(2, 3\)"),
    (lambda x: x.reshape(-1, -1), r"shape \(-1, -1\) is invalid"),
    (lambda x: x.expand(3), r"expand: cannot expand shape \(2, 3\) to \(3,\)"),
    (lambda x: x.permute(0, 0), r"permute: dims \(0, 0\) are not a permutation"),
    (lambda x: x.flatten(1, 0), "flatten: start_dim 1 comes after end_dim 0"),
    (lambda x: x.reshape(-2, 3), r"reshape: invalid shape dimension in \(-2, 3\)"),
    (lambda x: x.sum((0, -2)), "sum: dim 0 appears multiple times"),
    (lambda x: x.amax((1, 1)), "amax: dim 1 appears multiple times"),
])
def test_incompatible_shapes(fn, match):
    with pytest.raises(ValueError, match=match):
        fn(gc.zeros(2, 3))


def test_numpy_integers_work_as_dims_and_indices():
    x = gc.ones(2, 3)
    i = np.int64(1)
    assert x.sum(i).shape == (2,) and gc.softmax(x, i).shape == (2, 3)
    assert x.max(i).values.shape == (2,) and x.transpose(np.int64(0), i).shape == (3, 2)
    # a 0-d integer array / tensor indexes like an int (numpy, torch)
    assert x[np.array(1)].shape == (3,) and x[gc.tensor(1), gc.tensor(2)].shape == ()


def test_empty_reductions_and_bad_arguments():
    with pytest.raises(ValueError, match="max: cannot reduce an empty tensor of shape \\(0,\\)"):
        gc.zeros(0).max()
    with pytest.raises(IndexError, match="max: dim 0 of shape \\(0, 3\\) is empty"):
        gc.zeros(0, 3).max(0)
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        gc.clamp(gc.zeros(2))
    with pytest.raises(ValueError, match="cat: expected a non-empty list"):
        gc.cat([])
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        gc.gelu(gc.zeros(2), approximate="fast")
    with pytest.raises(ValueError, match="set_num_threads: n must be >= 1"):
        gc.set_num_threads(0)
    with pytest.raises(ValueError, match="at most 8 dims"):
        gc.zeros(*[1] * 9)


def test_nan_and_inf_propagate_forward_and_backward():
    x = gc.tensor([1.0, np.nan, 2.0, np.inf], dtype=gc.float64, requires_grad=True)
    y = (x * x).sum()
    assert np.isnan(y.item())
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, np.nan, 4.0, np.inf])
    # Finite forward, non-finite backward: d sqrt(x) / dx at 0 is inf; times 0 it is nan.
    z = gc.tensor([0.0, 4.0], requires_grad=True)
    (gc.sqrt(z) * gc.tensor([0.0, 1.0])).sum().backward()
    assert np.isnan(z.grad.numpy()[0]) and z.grad.numpy()[1] == 0.25
    # log/sqrt of negatives, 0/0 and inf - inf give nan; x/0 gives inf, as torch.
    a = gc.tensor([-1.0, 0.0, 1.0])
    assert np.isnan(gc.log(a).numpy()[0]) and gc.log(a).numpy()[1] == -np.inf
    assert np.isnan(gc.sqrt(a).numpy()[0])
    np.testing.assert_array_equal((a / 0).numpy(), [-np.inf, np.nan, np.inf])
    assert np.isnan((gc.tensor([np.inf]) - np.inf).item())
    # Through the whole op zoo: a NaN input makes the loss NaN and reaches the gradient.
    w = gc.tensor([[0.5, np.nan], [1.0, 2.0]], requires_grad=True)
    h = gc.tanh(w @ gc.ones(2, 3)).relu()
    loss = gc.log_softmax(h, 1).sum() + h.amax() + gc.logsumexp(h, (0, 1))
    assert np.isnan(loss.item())
    loss.backward()
    assert np.isnan(w.grad.numpy()).any()


def test_nan_seed_gradient():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).backward(gc.tensor([np.nan, 1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [np.nan, 3.0])


def test_backward_misuse():
    x = gc.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2.0).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        gc.zeros(2).sum().backward()
    with pytest.raises(ValueError, match=re.escape("gradient shape (3,) does not match tensor shape (2,)")):
        (x * 2.0).backward(gc.ones(3))
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    y2 = (x.exp() * 2.0).sum()
    y2.backward(retain_graph=True)
    y2.backward()  # retained: fine, grads accumulate
    with pytest.raises(RuntimeError, match="second time"):
        y2.backward()
    with pytest.raises(RuntimeError, match="numpy\\(\\) on Tensor that requires grad"):
        x.numpy()
    with pytest.raises(ValueError, match="item\\(\\): a Tensor with 2 elements"):
        x.item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(gc.tensor(1.0))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with 2 elements is ambiguous"):
        bool(gc.zeros(2))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: run(K.softmax, np.zeros((2, 3)), np.zeros((3, 2)), 1), ValueError, "softmax: shapes"),
    (lambda: run(K.softmax, np.zeros((2, 3)), (2, 3), 5), ValueError, "softmax: dims"),
    (lambda: run(K.softmax, np.zeros((2, 3)), (2, 3)), ValueError, "missing attribute"),
    (lambda: run(K.logsumexp, np.zeros((2, 3)), (5,), 0, 1), ValueError, "does not fit"),
    (lambda: run(K.where, np.zeros(3, bool), np.zeros(3), np.zeros(3), np.zeros(3, bool)), TypeError, "where"),
    (lambda: run(K.relu, np.zeros(3), np.zeros(3, bool)), TypeError, "relu: output 'y' must be float32 or float64, got bool"),
    (lambda: run(K.add, np.zeros(3), np.zeros(3, np.float32), (3,)), TypeError, "add: input 'b' must be float64 like the other A arguments"),
    (lambda: run(K.index_select0, np.zeros((3, 2)), np.array([3]), (1, 2)), ValueError, "out of bounds"),
    (lambda: run(K.strided_copy, np.zeros(3), (5,), 0, (1,)), ValueError, "outside its buffer"),
    (lambda: run(K.max_dim, np.zeros((2, 3)), (2, 1), np.zeros((2, 1)), 1), TypeError, "int64"),
    (lambda: run(K.gemm, np.zeros((2, 3)), np.zeros((2, 3)), (2, 3)), ValueError, "inner"),
    (lambda: run(K.exp, np.zeros(3)[::2], (2,)), ValueError, "C-contiguous"),
])
def test_kernel_misuse_raises_instead_of_corrupting_memory(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_where_kernel_allocates_the_values_dtype():
    out = run(K.where, np.array([True, False]), np.ones(2), np.zeros(2), (2,))
    assert out.dtype == np.float64 and out.tolist() == [1.0, 0.0]
