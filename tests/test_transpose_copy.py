"""strided_copy's tiled path (csrc/kernels/shape.cpp): a permute that moves the source's
unit-stride axis away from the last axis is copied in 32 x 32 tiles. Every such layout must give
numpy's bits: plane sizes around the tile edge, the unit axis anywhere, batch axes before and
between, every dtype, offsets and negative or zero strides through the raw kernel."""
import itertools

import numpy as np
import pytest

import gradcore as gc
from gradcore.dispatch import K, run

SIZES = (31, 32, 33, 64, 100)


@pytest.mark.parametrize("p,j", list(itertools.product(SIZES, SIZES)))
def test_transpose_2d_plane_sizes(p, j):
    a = np.random.default_rng(p * 1000 + j).standard_normal((j, p)).astype(np.float32)
    out = gc.tensor(a).t().numpy()
    np.testing.assert_array_equal(out, a.T)


@pytest.mark.parametrize("perm", [p for p in itertools.permutations(range(4)) if p[-1] != 3])
def test_permute_4d_every_unit_axis_position(perm):
    a = np.arange(3 * 40 * 5 * 36, dtype=np.float64).reshape(3, 40, 5, 36)
    np.testing.assert_array_equal(gc.tensor(a).permute(*perm).numpy(), a.transpose(perm))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.bool_])
def test_dtypes(dtype):
    a = (np.arange(2 * 70 * 45) % 7).astype(dtype).reshape(2, 70, 45)
    np.testing.assert_array_equal(gc.tensor(a).permute(0, 2, 1).numpy(), a.transpose(0, 2, 1))


def test_big_transpose_runs_in_threads_and_matches():
    a = np.random.default_rng(0).standard_normal((1030, 2050)).astype(np.float32)
    np.testing.assert_array_equal(gc.tensor(a).t().numpy(), a.T)


def test_raw_kernel_offset_negative_and_zero_strides():
    base = np.arange(50 * 40, dtype=np.float64)
    # view (40, 48) of a (50, 40) matrix, transposed, its columns from row 49 backwards:
    # y[i, j] = base[offset + i * 1 + j * (-40)]
    off = 49 * 40
    y = run(K.strided_copy, base, (40, 48), off, (1, -40))
    ref = np.array([[base[off + i - 40 * j] for j in range(48)] for i in range(40)])
    np.testing.assert_array_equal(y, ref)
    # a zero stride on the last axis (an expand): every column repeats the source column
    z = run(K.strided_copy, base, (40, 33), 0, (1, 0))
    np.testing.assert_array_equal(z, np.repeat(base[:40, None], 33, axis=1))


def test_permute_gradient_through_tiled_copy():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 64, 40))
    w = rng.standard_normal((40, 3, 64))
    x = gc.tensor(a, requires_grad=True)
    (x.permute(2, 0, 1) * gc.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.transpose(1, 2, 0))


def test_empty_views():
    for shape, perm in [((0, 40, 40), (0, 2, 1)), ((40, 0, 40), (2, 1, 0)), ((40, 40, 0), (1, 0, 2))]:
        a = np.zeros(shape, np.float32)
        out = gc.tensor(a).permute(*perm).numpy()
        assert out.shape == a.transpose(perm).shape

