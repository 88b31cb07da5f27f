"""The op table (tests/op_table.py) run three ways: forward against the numpy reference in
float32 and float64 (contiguous and Fortran-ordered inputs), gradcheck in float64, and the
analytic gradient at kink points against torch's convention (finite differences are invalid
there)."""
import zlib

import numpy as np
import pytest

import gradcore as gc
from op_table import API_OPS, IDX, ROWS, U
from op_table_nn import NN_API_OPS, NN_ROWS
from op_table_parity import PARITY_API_OPS, PARITY_ROWS

ROWS = ROWS + NN_ROWS + PARITY_ROWS
API_OPS = {**API_OPS, **NN_API_OPS, **PARITY_API_OPS}

FLOAT = (np.float32, np.float64)


def _inputs(row, case, salt=""):
    rng = np.random.default_rng(zlib.crc32(f"{row.name}/{case}/{salt}".encode()))
    n = len(case.shapes)
    samplers = row.domain if isinstance(row.domain, tuple) else (row.domain or U(),) * n
    return [s(rng, shape) for s, shape in zip(samplers, case.shapes)]


def _is_float(a):
    return a.dtype.kind == "f"


def _transposable(shape):
    """Fortran order differs from C order: at least two dims larger than 1."""
    return sum(d > 1 for d in shape) >= 2


def _differentiable(row):
    return row.name not in ("lt", "le", "gt", "ge", "eq", "ne")


FWD = [pytest.param(row, case, dt, layout, id=f"{row.name}-{i}-{np.dtype(dt).name}-{layout}")
       for row in ROWS for i, case in enumerate(row.cases) for dt in FLOAT
       for layout in ("C", "F") if layout == "C" or any(map(_transposable, case.shapes))]
GRAD = [pytest.param(row, case, id=f"{row.name}-{i}")
        for row in ROWS if _differentiable(row) for i, case in enumerate(row.cases)]
KINKS = [pytest.param(row, k, id=f"{row.name}-{i}")
         for row in ROWS for i, k in enumerate(row.kinks)]


def _check_out(out, ref, dtype, tol, label):
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs), label
    for o, r in zip(outs, refs):
        r = np.asarray(r)
        assert isinstance(o, gc.Tensor), f"{label}: returned {type(o).__name__}"
        assert o.shape == r.shape, f"{label}: shape {o.shape}, numpy {r.shape}"
        if r.dtype.kind == "f":
            assert o.dtype == dtype, f"{label}: dtype {o.dtype}, expected {np.dtype(dtype)}"
            np.testing.assert_allclose(o.detach().numpy(), r, rtol=tol, atol=tol, err_msg=label)
        elif r.dtype.kind == "b":
            assert o.dtype == gc.bool, label
            np.testing.assert_array_equal(o.numpy(), r, err_msg=label)
        else:
            assert o.dtype == gc.int64, label
            np.testing.assert_array_equal(o.numpy(), r, err_msg=label)


@pytest.mark.parametrize("row, case, dtype, layout", FWD)
def test_forward(row, case, dtype, layout):
    arrays = [a.astype(dtype) if _is_float(a) else a for a in _inputs(row, case)]
    if layout == "F":
        arrays = [np.asfortranarray(a) for a in arrays]
        assert any(not a.flags.c_contiguous for a in arrays)
    ins = arrays if row.np_in else [gc.tensor(a) for a in arrays]
    out = row.fn(*ins, **case.kw)
    ref = row.ref(*[a.astype(np.float64) if _is_float(a) else a for a in arrays], **case.kw)
    tol = row.tol32 if dtype == np.float32 else 1e-9
    _check_out(out, ref, dtype, tol, f"{row.name}{case.shapes} {case.kw}")


def _grad_inputs(arrays):
    return [gc.tensor(a, dtype=gc.float64, requires_grad=True) if _is_float(a) else gc.tensor(a)
            for a in arrays]


@pytest.mark.parametrize("row, case", GRAD)
def test_gradcheck(row, case):
    ins = _grad_inputs(_inputs(row, case))

    def fn(*ts):
        return row.fn(*ts, **case.kw)

    assert gc.autograd.gradcheck(fn, ins, name=row.name)
    # Gradients come back reduced to each input's shape and dtype.
    out = fn(*ins)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(gc.ones(out.shape, dtype=gc.float64))
    for t in ins:
        if t.requires_grad:
            assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == gc.float64


@pytest.mark.parametrize("row, case", GRAD)
def test_backward_float32_matches_float64(row, case):
    arrays = _inputs(row, case)
    grads = {}
    for dt in FLOAT:
        ins = [gc.tensor(a, dtype=dt, requires_grad=True) if _is_float(a) else gc.tensor(a)
               for a in arrays]
        out = row.fn(*ins, **case.kw)
        out = out[0] if isinstance(out, tuple) else out
        seed = np.cos(np.arange(out.numel(), dtype=dt)).reshape(out.shape)  # same in both
        out.backward(seed)
        grads[dt] = [t.grad for t in ins if t.requires_grad]
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        assert g32.dtype == gc.float32 and g32.shape == g64.shape
        np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=1e-4, atol=1e-4 * max(
            1.0, float(np.abs(g64.numpy()).max(initial=0))), err_msg=row.name)


@pytest.mark.parametrize("row, kink", KINKS)
def test_kink_gradient(row, kink):
    ins = _grad_inputs(kink.inputs)
    out = row.fn(*ins, **kink.kw)
    out = out[0] if isinstance(out, tuple) else out
    ref = row.ref(*kink.inputs, **kink.kw)
    np.testing.assert_allclose(out.detach().numpy(), ref[0] if isinstance(ref, tuple) else ref)
    out.sum().backward()
    for t, g in zip(ins, kink.grads):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=0, atol=1e-15,
                                   err_msg=f"{row.name} at {kink.inputs} {kink.kw}")


def test_table_covers_the_api():
    names = [r.name for r in ROWS]
    assert len(names) == len(set(names)), "duplicate row names"
    missing = [op for op, rows in API_OPS.items() if any(r not in names for r in rows.split())]
    assert not missing, f"API ops without a table row: {missing}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_row_has_edge_cases(row):
    shapes = [s for case in row.cases for s in case.shapes]
    assert any(np.prod(s, dtype=int) <= 1 for s in shapes), "needs a size-0 or size-1 case"
    assert any(map(_transposable, shapes)), "needs a >=2-d case (non-contiguous variant)"
    if len(row.cases[0].shapes) == 2 and row.name not in ("cat", "stack", "binary_cross_entropy",
                                                           "binary_cross_entropy_with_logits"):
        assert any(len(set(c.shapes)) > 1 for c in row.cases), "needs a broadcast case"


def test_numpy_left_operand_defers_to_tensor():
    a = np.asfortranarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    t = gc.tensor([1.0, 2.0, 4.0])
    for out, ref in [(a + t, a + t.numpy()), (a - t, a - t.numpy()), (a * t, a * t.numpy()),
                     (a / t, a / t.numpy()), (a[:, :, None].transpose(0, 2, 1) @ gc.ones(3, 1),
                                              a.sum(1).reshape(2, 1, 1))]:
        assert isinstance(out, gc.Tensor) and out.dtype == gc.float32
        np.testing.assert_allclose(out.numpy(), ref)


# ---- sizes above the kernels' OpenMP thresholds (kParallelMin = 32768 elements) ------------
from op_table import c  # noqa: E402

BIG = [("add", c((64, 1, 600), (1, 8, 1))), ("mul", c((400, 100), (400, 100))),
       ("div", c((400, 100), (100,))), ("where", c((300, 120), (120,), (300, 1))),
       ("relu", c((400, 100))), ("tanh", c((40000,))), ("sum", c((400, 100), dim=0)),
       ("sum", c((400, 100), dim=1)), ("sum", c((400, 100))), ("mean", c((40, 30, 50), dim=(0, 2))),
       ("amax", c((400, 100), dim=1)), ("max_dim", c((100, 400), dim=0)),
       ("softmax", c((300, 200), dim=-1)), ("softmax", c((300, 200), dim=0)),
       ("log_softmax", c((20, 300, 10), dim=1)), ("logsumexp", c((40, 30, 50), dim=(0, 2))),
       ("transpose", c((400, 300), d0=0, d1=1)), ("index_array", c((40000, 2), idx=IDX)),
       ("cat", c((200, 100), (200, 100), dim=1)), ("matmul", c((2, 64, 128), (128, 64)))]
_ROW = {r.name: r for r in ROWS}


@pytest.mark.parametrize("name, case", [pytest.param(n, k, id=f"{n}-{i}")
                                        for i, (n, k) in enumerate(BIG)])
def test_large_inputs_any_thread_count(name, case):
    row = _ROW[name]
    arrays = _inputs(row, case, "big")
    ref = row.ref(*arrays, **case.kw)
    outs = []
    prev = gc.get_num_threads()
    try:
        for n in (1, 2):
            gc.set_num_threads(n)
            ins = _grad_inputs(arrays)
            out = row.fn(*ins, **case.kw)
            _check_out(out, ref, np.float64, 1e-9, name)
            outs.append((out[0] if isinstance(out, tuple) else out).detach().numpy())
            assert gc.autograd.gradcheck(lambda *ts: row.fn(*ts, **case.kw), ins, name=name)
    finally:
        gc.set_num_threads(prev)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, dtype", [
    (lambda: gc.ones(3) + gc.ones(3, dtype=gc.float64), gc.float64),
    (lambda: gc.ones(3) * gc.tensor(2.0, dtype=gc.float64), gc.float32),  # 0-d acts as a scalar
    (lambda: gc.ones(3, dtype=gc.float64) * gc.tensor(2.0), gc.float64),
    (lambda: gc.tensor(1.0) * gc.tensor(2.0, dtype=gc.float64), gc.float64),
    (lambda: gc.ones(3) + gc.tensor([1, 2, 3]), gc.float32),
    (lambda: gc.ones(3) + 2.5, gc.float32), (lambda: 2 ** gc.ones(3), gc.float32),
    (lambda: gc.ones(3) * np.float64(2.0), gc.float32),
    (lambda: gc.ones(3) @ gc.ones(3, dtype=gc.float64), gc.float64),
    (lambda: gc.where(gc.ones(3) > 0, gc.ones(3), gc.zeros(3, dtype=gc.float64)), gc.float64),
    (lambda: gc.where(gc.ones(3) > 0, gc.tensor([1, 2, 3]), 0), gc.int64),  # any dtype selects
    (lambda: gc.where(gc.ones(3) > 0, gc.tensor([1, 2, 3]), 0.5), gc.float32),
    (lambda: gc.where(gc.ones(3) > 0, True, gc.tensor([True, False, True])), gc.bool),
    (lambda: gc.where(gc.ones(3) > 0, 1.0, 0.0), gc.float32),
])
def test_dtype_promotion_as_torch(make, dtype):
    assert make().dtype == dtype


@pytest.mark.parametrize("n", [5, 300])  # full Jacobian and random-projection paths
def test_gradcheck_catches_a_wrong_gradient(n):
    # d/dx (x * stop_grad(x)) is reported as x, the truth is 2x: gradcheck must refuse it.
    x = gc.tensor(np.linspace(0.5, 1.5, n), requires_grad=True, dtype=gc.float64)
    with pytest.raises(gc.autograd.GradcheckError, match="gradcheck failed for half: input 0"):
        gc.autograd.gradcheck(lambda t: t * t.detach(), [x], name="half")
