"""The raw gemm kernel against numpy's float64 matmul: edge sizes around the AVX-512 sgemm's
12 x 32 tiles and its K/N/M blocks, all four transpose combinations, batches with shared
operands, unaligned operands, K = 0, NaN/Inf propagation, and outputs that hold garbage."""
import itertools

import numpy as np
import pytest

from gradcore.dispatch import K, run

EDGE = (1, 15, 16, 17, 31, 33, 100, 257)
TRANS = list(itertools.product((0, 1), (0, 1)))
# Shapes crossing the kernel's blocks: K > 384 (k blocks), N > 480 (n blocks), M > 3072
# (m blocks), and sizes big enough to split across threads.
BIG = [(50, 1000, 800), (3100, 40, 20), (3100, 100, 20), (700, 1100, 390), (97, 517, 1025), (1024, 1024, 64)]


def _operands(rng, m, n, k, ta, tb, dtype=np.float32, batch=()):
    a = rng.standard_normal(batch + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(batch + ((n, k) if tb else (k, n))).astype(dtype)
    return a, b



def _reference(a, b, ta, tb):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if ta:
        a64 = np.swapaxes(a64, -1, -2)
    if tb:
        b64 = np.swapaxes(b64, -1, -2)
    with np.errstate(invalid="ignore"):  # inf + -inf in the NaN/Inf test
        return a64 @ b64


def _check(c, ref, k):
    assert c.shape == ref.shape
    # float32 accumulation error grows like eps * k for unit-normal operands.
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=2e-6 * max(k, 1) + 1e-6)


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m", EDGE)
def test_edge_sizes(m, ta, tb):
    rng = np.random.default_rng(1000 * m + 10 * ta + tb)
    for n, k in itertools.product(EDGE, EDGE):
        a, b = _operands(rng, m, n, k, ta, tb)
        c = run(K.gemm, a, b, (m, n), ta, tb)
        _check(c, _reference(a, b, ta, tb), k)


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", BIG)
def test_block_boundaries(m, n, k, ta, tb):
    rng = np.random.default_rng(m + n + k + 10 * ta + tb)
    a, b = _operands(rng, m, n, k, ta, tb)
    _check(run(K.gemm, a, b, (m, n), ta, tb), _reference(a, b, ta, tb), k)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_float64_matches(ta, tb):
    rng = np.random.default_rng(7)
    a, b = _operands(rng, 65, 70, 129, ta, tb, dtype=np.float64)
    np.testing.assert_allclose(run(K.gemm, a, b, (65, 70), ta, tb), _reference(a, b, ta, tb),
                               rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("shared", ["a", "b", "none"])
@pytest.mark.parametrize("m,n,k", [(33, 47, 31), (100, 257, 100), (17, 64, 300)])
def test_batched(m, n, k, ta, tb, shared):
    rng = np.random.default_rng(m * n + k)
    nb = 5
    a, b = _operands(rng, m, n, k, ta, tb, batch=(nb,))
    if shared == "a":
        a = a[:1].copy()
    if shared == "b":
        b = b[:1].copy()
    c = run(K.gemm, a, b, (nb, m, n), ta, tb)
    _check(c, _reference(a, b, ta, tb), k)
    # 2-D operands stand for a batch of one shared across the batch.
    if shared == "a":
        _check(run(K.gemm, a[0], b, (nb, m, n), ta, tb), _reference(a, b, ta, tb), k)


@pytest.mark.parametrize("ta,tb", TRANS)
def test_unaligned_operands(ta, tb):
    # Batch slices of odd-sized 3-D arrays start at addresses that are not 64-byte aligned.
    rng = np.random.default_rng(3)
    m, n, k = 67, 101, 45
    a3, b3 = _operands(rng, m, n, k, ta, tb, batch=(3,))
    out3 = np.full((3, m, n), np.nan, np.float32)
    for i in (1, 2):
        a, b, out = a3[i], b3[i], out3[i]
        assert a.flags.c_contiguous and a.ctypes.data % 64 != 0
        run(K.gemm, a, b, out, ta, tb)
        _check(out, _reference(a, b, ta, tb), k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", TRANS)
def test_k_zero_gives_zeros(ta, tb, dtype):
    m, n = 40, 70
    a = np.zeros((0, m) if ta else (m, 0), dtype)
    b = np.zeros((n, 0) if tb else (0, n), dtype)
    out = np.full((m, n), np.nan, dtype)
    run(K.gemm, a, b, out, ta, tb)
    assert not out.any()


@pytest.mark.parametrize("ta,tb", TRANS)
def test_garbage_output_is_overwritten(ta, tb):
    rng = np.random.default_rng(5)
    m, n, k = 100, 130, 800
    a, b = _operands(rng, m, n, k, ta, tb)
    out = np.full((m, n), np.nan, np.float32)
    run(K.gemm, a, b, out, ta, tb)
    _check(out, _reference(a, b, ta, tb), k)


@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", [(33, 47, 40), (100, 257, 31), (64, 512, 500)])
def test_nan_inf_propagate(m, n, k, ta, tb):
    rng = np.random.default_rng(m + n)
    a, b = _operands(rng, m, n, k, ta, tb)
    # op(A)[i, p] = NaN, op(A)[m-1, 0] = inf (last row: inside a zero-padded panel), op(B)[q, n-1] = -inf.
    i, p, q = m // 2, k // 3, k - 1
    for arr, t, (r, s), v in ((a, ta, (i, p), np.nan), (a, ta, (m - 1, 0), np.inf),
                              (b, tb, (q, n - 1), -np.inf)):
        arr[(s, r) if t else (r, s)] = v
    ref = _reference(a, b, ta, tb)
    c = run(K.gemm, a, b, (m, n), ta, tb)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(c[fin], ref[fin], rtol=1e-5, atol=2e-6 * k + 1e-6)
