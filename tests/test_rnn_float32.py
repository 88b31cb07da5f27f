"""The recurrent kernels' float32 AVX-512 paths (csrc/kernels/rnn.h, vmath.h): the step product
over W_hh's panels with the input projection folded in, rows split across threads, the one-pass
LSTM cell and its sigmoid/tanh, and the weight gradients added group by group of steps inside
the backward time loop. Each is checked against float64 (which takes the portable paths) or
against exact limits, and the gradients for bit-identity across thread counts."""
import numpy as np
import pytest

import gradcore as gc
from gradcore.dispatch import K, run
from test_rnn import KINDS, make, state_np


# ---- float32 fast path (packed step product, rows split across threads) ----------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes", [(48, 19, 5, 37), (20, 24, 32, 40), (9, 13, 64, 36),
                                   (12, 17, 32, 64), (5, 8, 64, 256)])
def test_float32_odd_sizes_match_float64(kind, threads, sizes):
    """Odd batch (tiles of 8 rows + a tail) and hidden sizes (column-panel tails), big enough for
    the per-thread row blocks: float32 forward and gradients agree with float64. Sequence
    lengths that are not a multiple of the weight gradients' group of 4 steps end on a short
    group; a hidden size that is a multiple of 32 makes the backward read W_hh in place as its
    step product's panels. One block of 8 rows (the last size) runs the time loop on one thread
    and splits each group's weight-gradient update by gates over the threads instead."""
    rng = np.random.default_rng(14)
    L, N, I, H = sizes  # 48*19*G*37*37 >= 2^20: the row blocks run in parallel
    m64 = make(kind, I, H, bidirectional=True, dtype=gc.float64)
    m32 = make(kind, I, H, bidirectional=True, dtype=gc.float32)
    m32.load_state_dict({k: v.astype(np.float32) for k, v in state_np(m64).items()})
    x = rng.standard_normal((L, N, I))
    h0 = rng.standard_normal((2, N, H)) * 0.5
    old = gc.get_num_threads()
    gc.set_num_threads(threads)
    try:
        res = []
        for m, dt in ((m64, np.float64), (m32, np.float32)):
            xt = gc.tensor(x.astype(dt), requires_grad=True)
            ht = gc.tensor(h0.astype(dt), requires_grad=True)
            hx = (ht, ht * 0.5) if kind == "lstm" else ht
            out, hn = m(xt, hx)
            hn = hn[0] if kind == "lstm" else hn
            w = gc.tensor(np.cos(np.arange(out.numel())).reshape(out.shape).astype(dt))
            ((out * w).sum() + hn.sum()).backward()
            res.append([out.detach().numpy(), xt.grad.numpy(), ht.grad.numpy()] +
                       [p.grad.numpy() for p in m.parameters()])
    finally:
        gc.set_num_threads(old)
    for a64, a32 in zip(*res):
        np.testing.assert_allclose(a32, a64, rtol=0, atol=2e-4 * max(1.0, np.abs(a64).max()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sizes", [(11, 24, 20, 40), (5, 8, 64, 256), (1, 19, 3, 5)])
def test_float32_gradients_are_bit_identical_for_1_and_2_threads(kind, sizes):
    """The weight gradients split by gates, not by batch rows, across the threads, and every
    group's update and bias sum keeps one order: the same bits on one thread and on two (row
    blocks in parallel; one row block with the update split; a sequence of one step)."""
    rng = np.random.default_rng(5)
    L, N, I, H = sizes
    m = make(kind, I, H, bidirectional=True, dtype=gc.float32)
    x = rng.standard_normal((L, N, I)).astype(np.float32)
    old = gc.get_num_threads()
    res = []
    try:
        for threads in (1, 2):
            gc.set_num_threads(threads)
            m.zero_grad()
            xt = gc.tensor(x, requires_grad=True)
            out = m(xt)[0]
            w = gc.tensor(np.cos(np.arange(out.numel())).reshape(out.shape).astype(np.float32))
            (out * w).sum().backward()
            res.append([xt.grad.numpy()] + [p.grad.numpy().copy() for p in m.parameters()])
    finally:
        gc.set_num_threads(old)
    for a1, a2 in zip(*res):
        np.testing.assert_array_equal(a1, a2)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [0.0, np.inf, np.nan])
def test_no_initial_state_first_step(kind, bad):
    """Without h0 the first step skips h0 W_hh^T (zeros) while W_hh is finite; an inf or NaN in
    W_hh keeps the product, so 0 * inf gives NaN there as in float64 (and torch)."""
    rng = np.random.default_rng(21)
    L, N, I, H = 3, 19, 32, 40
    m64 = make(kind, I, H, bidirectional=True, dtype=gc.float64)
    sd = state_np(m64)
    sd["weight_hh_l0"][1, 2] = bad
    m64.load_state_dict(sd)
    m32 = make(kind, I, H, bidirectional=True, dtype=gc.float32)
    m32.load_state_dict({k: v.astype(np.float32) for k, v in sd.items()})
    x = rng.standard_normal((L, N, I))
    o64 = m64(gc.tensor(x))[0].detach().numpy()
    o32 = m32(gc.tensor(x.astype(np.float32)))[0].detach().numpy()
    np.testing.assert_array_equal(np.isnan(o32), np.isnan(o64))
    assert np.isnan(o64).any() == (bad != 0.0)
    ok = ~np.isnan(o64)
    np.testing.assert_allclose(o32[ok], o64[ok], rtol=0, atol=2e-5)


def test_cell_nonlinearities_of_infinite_and_nan_preactivations():
    """Pre-activations of +-inf (through the biases, the weights zero) give sigmoid 1 / 0 and
    tanh +-1, and NaN stays NaN, in every gate and in tanh(c)."""
    H, n = 16, 3
    vals = np.array([np.inf, -np.inf, np.nan, 0.0] * (H // 4), np.float32)
    b_ih = np.tile(vals, 4)
    z = np.zeros((0,), np.float32)
    x = np.zeros((1, n, 8), np.float32)
    state, gates, tanh_c = run(K.lstm_forward, x, z, z, np.zeros((4 * H, 8), np.float32),
                               np.zeros((4 * H, H), np.float32), b_ih, np.zeros(4 * H, np.float32),
                               (4, n, H), (1, n, 4 * H), (1, n, H))
    g = gates.reshape(n, 4, H)
    sig = np.array([1.0, 0.0, np.nan, 0.5] * (H // 4))
    th = np.array([1.0, -1.0, np.nan, 0.0] * (H // 4))
    for q, want in ((0, sig), (1, sig), (2, th), (3, sig)):
        np.testing.assert_array_equal(g[:, q], np.broadcast_to(want, (n, H)))
    c = sig * th  # c0 = 0: c = i * g
    np.testing.assert_allclose(tanh_c.reshape(n, H), np.broadcast_to(np.tanh(c), (n, H)),
                               rtol=1e-6, atol=0)


def test_cell_sigmoid_and_tanh_are_within_3_ulp_of_float64():
    """The LSTM's gate nonlinearities (csrc/kernels/vmath.h: AVX-512, or Eigen's exp) on a
    dense grid: W_ih = identity per gate and W_hh = 0 make the saved gates sigmoid(x) (input
    gate) and tanh(x) (cell candidate) of the input itself."""
    H = 64
    xs = np.concatenate([np.linspace(-20, 20, 40000), np.linspace(-1, 1, 20000),
                         np.geomspace(1e-30, 100, 10000), -np.geomspace(1e-30, 100, 10000),
                         [0.0, -0.0, 88, -88, 104, -104, 200, -200, 0.39999, 0.4, 0.40001]])
    xs = np.concatenate([xs, np.zeros(-len(xs) % H)]).astype(np.float32)
    n = len(xs) // H
    w_ih = np.tile(np.eye(H, dtype=np.float32), (4, 1))
    z = np.zeros((0,), np.float32)
    _, gates, _ = run(K.lstm_forward, xs.reshape(1, n, H), z, z, w_ih,
                        np.zeros((4 * H, H), np.float32), z, z, (4, n, H), (1, n, 4 * H),
                        (1, n, H))
    g = gates.reshape(n, 4, H)
    x = xs.reshape(n, H).astype(np.float64)
    for got, want in ((g[:, 0], 1 / (1 + np.exp(-x))), (g[:, 2], np.tanh(x))):
        spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        spacing = np.maximum(spacing, np.finfo(np.float32).tiny)  # below the normal range
        assert (np.abs(got - want) / spacing).max() <= 3.0
    assert g[:, 0][x == -200].max() < np.finfo(np.float32).tiny and g[:, 2][x == 200].min() == 1.0
    assert np.signbit(g[:, 2][x < 0]).all() and not np.signbit(g[:, 2][x > 0]).any()
