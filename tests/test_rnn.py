"""Recurrent layers (gc.nn.RNN / LSTM / GRU and cells; kernels/rnn.cpp, ops/rnn.py).

Forward against a per-step numpy transcription of torch's documented equations, float64
gradcheck of input, initial states and every weight, state-dict keys and shapes as torch
(hard-coded), cells equal one step of a layer, argument errors; an optional torch parity test."""

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
from gradcore.autograd import gradcheck
from gradcore.dispatch import K, run

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make(kind, *args, **kw):
    if kind.startswith("rnn"):
        return nn.RNN(*args, nonlinearity=kind[4:], **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[kind](*args, **kw)


# ---- numpy reference: torch's equations, one step at a time ------------------------------
def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def ref_cell(kind, x, h, c, wih, whh, bih, bhh):
    gi, gh = x @ wih.T + bih, h @ whh.T + bhh
    if kind == "rnn_tanh":
        return np.tanh(gi + gh), None
    if kind == "rnn_relu":
        return np.maximum(gi + gh, 0), None
    H = h.shape[-1]
    if kind == "lstm":
        a = gi + gh
        i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    r = sig(gi[:, :H] + gh[:, :H])
    z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h, None


def ref_rnn(kind, sd, x, hx, num_layers, bidirectional, batch_first, bias=True):
    """x: the module's input layout; hx: None, h0, or (h0, c0) as the module takes them."""
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None]
    elif batch_first:
        x = x.transpose(1, 0, 2)
    L, N = x.shape[:2]
    D = 2 if bidirectional else 1
    H = sd["weight_hh_l0"].shape[1]
    h0, c0 = (hx if isinstance(hx, tuple) else (hx, None)) if hx is not None else (None, None)
    if h0 is not None and unbatched:
        h0 = h0[:, None]
        c0 = None if c0 is None else c0[:, None]
    h0 = np.zeros((D * num_layers, N, H), x.dtype) if h0 is None else h0
    c0 = np.zeros((D * num_layers, N, H), x.dtype) if c0 is None else c0
    hn, cn = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            G = sd["weight_hh" + sfx].shape[0]
            p = [sd["weight_ih" + sfx], sd["weight_hh" + sfx],
                 sd["bias_ih" + sfx] if bias else np.zeros(G, x.dtype),
                 sd["bias_hh" + sfx] if bias else np.zeros(G, x.dtype)]
            h, c = h0[layer * D + d], c0[layer * D + d]
            out = np.zeros((L, N, H), x.dtype)
            for t in (range(L - 1, -1, -1) if d else range(L)):
                h, c2 = ref_cell(kind, x[t], h, c, *p)
                c = c2 if c2 is not None else c
                out[t] = h
            outs.append(out)
            hn.append(h)
            cn.append(c)
        x = np.concatenate(outs, axis=2)
    hn, cn = np.stack(hn), np.stack(cn)
    if unbatched:
        x, hn, cn = x[:, 0], hn[:, 0], cn[:, 0]
    elif batch_first:
        x = x.transpose(1, 0, 2)
    return x, hn, (cn if kind == "lstm" else None)


def run_module(m, x, hx):
    out, h = m(gc.tensor(x), None if hx is None else
               (tuple(gc.tensor(a) for a in hx) if isinstance(hx, tuple) else gc.tensor(hx)))
    h, c = h if isinstance(h, tuple) else (h, None)
    return out.detach().numpy(), h.detach().numpy(), None if c is None else c.detach().numpy()


def state_np(m):
    return {k: v.numpy() for k, v in m.state_dict().items()}


# ---- forward vs the reference ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_forward_matches_reference(kind, num_layers, bidirectional, batch_first, with_state):
    gc.manual_seed(0)
    rng = np.random.default_rng(1)
    I, H, L, N = 3, 4, 5, 2
    m = make(kind, I, H, num_layers=num_layers, bidirectional=bidirectional,
             batch_first=batch_first, dtype=gc.float64)
    x = rng.standard_normal((N, L, I) if batch_first else (L, N, I))
    D = 2 if bidirectional else 1
    hx = None
    if with_state:
        hx = rng.standard_normal((D * num_layers, N, H))
        if kind == "lstm":
            hx = (hx, rng.standard_normal((D * num_layers, N, H)))
    got = run_module(m, x, hx)
    want = ref_rnn(kind, state_np(m), x, hx, num_layers, bidirectional, batch_first)
    assert got[0].shape == want[0].shape == ((N, L, D * H) if batch_first else (L, N, D * H))
    assert got[1].shape == (D * num_layers, N, H)
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_dtypes_unbatched_and_no_bias(kind, dtype):
    gc.manual_seed(2)
    rng = np.random.default_rng(3)
    m = make(kind, 3, 5, num_layers=2, bias=False, dtype=dtype)
    assert "bias_ih_l0" not in dict(m.named_parameters())
    x = rng.standard_normal((6, 3)).astype(dtype)  # unbatched (L, H_in)
    hx = rng.standard_normal((2, 5)).astype(dtype)
    hx = (hx, rng.standard_normal((2, 5)).astype(dtype)) if kind == "lstm" else hx
    got = run_module(m, x, hx)
    want = ref_rnn(kind, state_np(m), x.astype(np.float64),
                   tuple(a.astype(np.float64) for a in hx) if isinstance(hx, tuple)
                   else hx.astype(np.float64), 2, False, False, bias=False)
    assert got[0].shape == (6, 5) and got[1].shape == (2, 5) and got[0].dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_length_one_and_big_values(kind):
    """L = 1; saturating inputs (|pre-activation| ~ 50) stay finite and match the reference."""
    m = make(kind, 2, 3, dtype=gc.float64)
    x = np.array([[[40.0, -60.0]], ])
    got = run_module(m, x, None)
    want = ref_rnn(kind, state_np(m), x, None, 1, False, False)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_nan_propagates(kind):
    m = make(kind, 2, 3, dtype=gc.float64)
    x = np.zeros((3, 1, 2))
    x[1, 0, 0] = np.nan
    out = run_module(m, x, None)[0]
    assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1:]))


# ---- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("N", [1, 2])
def test_gradcheck_single_layer(kind, L, N):
    gc.manual_seed(4)
    rng = np.random.default_rng(5)
    m = make(kind, 2, 3, dtype=gc.float64)
    x = gc.tensor(rng.standard_normal((L, N, 2)), requires_grad=True)
    h0 = gc.tensor(rng.standard_normal((1, N, 3)), requires_grad=True)
    c0 = gc.tensor(rng.standard_normal((1, N, 3)), requires_grad=True)
    params = list(m.parameters())

    def fn(x, h0, c0, *ps):
        if kind == "lstm":
            out, (h, c) = m(x, (h0, c0))
            return out, h, c
        out, h = m(x, h0)
        return out, h
    assert gradcheck(fn, [x, h0, c0] + params, name=kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wants", ["h0", "c0", "none"])
def test_gradcheck_initial_state_without_gradient(kind, wants):
    """A given initial state that needs no gradient: the backward kernel gets no dh0 / dc0
    to fill and skips the last step's product into dh (both directions); the others are
    still right."""
    rng = np.random.default_rng(15)
    m = make(kind, 2, 2, bidirectional=True, dtype=gc.float64)
    x = gc.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = gc.tensor(rng.standard_normal((2, 2, 2)), requires_grad=wants == "h0")
    c0 = gc.tensor(rng.standard_normal((2, 2, 2)), requires_grad=wants == "c0")

    def fn(x, h0, c0, *ps):
        out, h = m(x, (h0, c0) if kind == "lstm" else h0)
        return (out,) + (h if isinstance(h, tuple) else (h,))
    assert gradcheck(fn, [x, h0, c0] + list(m.parameters()), name=kind)
    if wants == "h0":
        out, _ = m(x, (h0, c0) if kind == "lstm" else h0)
        out.sum().backward()
        assert h0.grad is not None and c0.grad is None


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_two_layers_bidirectional_batch_first(kind):
    gc.manual_seed(6)
    rng = np.random.default_rng(7)
    m = make(kind, 2, 2, num_layers=2, bidirectional=True, batch_first=True, dtype=gc.float64)
    x = gc.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    h0 = gc.tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)
    c0 = gc.tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)

    def fn(x, h0, c0, *ps):
        out, h = m(x, (h0, c0) if kind == "lstm" else h0)
        return (out,) + (h if isinstance(h, tuple) else (h,))
    assert gradcheck(fn, [x, h0, c0] + list(m.parameters()), name=kind)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_no_bias_unbatched_no_state(kind):
    m = make(kind, 3, 2, bias=False, dtype=gc.float64)
    x = gc.tensor(np.random.default_rng(8).standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda x, *ps: m(x)[0], [x] + list(m.parameters()), name=kind)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_through_h_n_only(kind):
    """Only h_n (or c_n) feeds the loss: the output view gets no gradient."""
    rng = np.random.default_rng(9)
    m = make(kind, 2, 3, dtype=gc.float64)
    x = gc.tensor(rng.standard_normal((4, 2, 2)), requires_grad=True)

    def fn(x, *ps):
        _, h = m(x)
        return h[1] if isinstance(h, tuple) else h
    assert gradcheck(fn, [x] + list(m.parameters()), name=kind)


def test_relu_kink_gradient_is_zero():
    """relu at exactly 0 passes no gradient (torch's threshold_backward)."""
    m = nn.RNN(1, 1, nonlinearity="relu", bias=False, dtype=gc.float64)
    with gc.no_grad():
        m.weight_ih_l0.copy_(gc.tensor([[1.0]], dtype=gc.float64))
        m.weight_hh_l0.copy_(gc.tensor([[1.0]], dtype=gc.float64))
    x = gc.tensor(np.zeros((1, 1, 1)), requires_grad=True)
    m(x)[0].sum().backward()
    assert x.grad.numpy()[0, 0, 0] == 0.0


# ---- dropout between layers ---------------------------------------------------------------------
def test_dropout_between_layers_train_only():
    m = nn.GRU(3, 4, num_layers=2, dropout=1.0, dtype=gc.float64)
    x = np.random.default_rng(10).standard_normal((5, 2, 3))
    sd = state_np(m)
    # p = 1 zeroes layer 1's output in train(): layer 2 then sees zeros
    out_train = run_module(m, x, None)[0]
    sd2 = {k[:-1] + "0": v for k, v in sd.items() if k.endswith("_l1")}
    want_train = ref_rnn("gru", sd2, np.zeros((5, 2, 4)), None, 1, False, False)[0]
    np.testing.assert_allclose(out_train, want_train, rtol=1e-12, atol=1e-12)
    m.eval()
    np.testing.assert_allclose(run_module(m, x, None)[0],
                               ref_rnn("gru", sd, x, None, 2, False, False)[0], rtol=1e-12)


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(2, 3, dropout=0.5)


# ---- state dicts ----------------------------------------------------------------------------
TORCH_LSTM_2L_BI = [  # torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True).state_dict()
    ("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 5)), ("bias_ih_l0", (20,)),
    ("bias_hh_l0", (20,)), ("weight_ih_l0_reverse", (20, 3)), ("weight_hh_l0_reverse", (20, 5)),
    ("bias_ih_l0_reverse", (20,)), ("bias_hh_l0_reverse", (20,)), ("weight_ih_l1", (20, 10)),
    ("weight_hh_l1", (20, 5)), ("bias_ih_l1", (20,)), ("bias_hh_l1", (20,)),
    ("weight_ih_l1_reverse", (20, 10)), ("weight_hh_l1_reverse", (20, 5)),
    ("bias_ih_l1_reverse", (20,)), ("bias_hh_l1_reverse", (20,))]
TORCH_GRU_2L_NOBIAS = [("weight_ih_l0", (12, 3)), ("weight_hh_l0", (12, 4)),
                       ("weight_ih_l1", (12, 4)), ("weight_hh_l1", (12, 4))]
TORCH_RNN = [("weight_ih_l0", (6, 2)), ("weight_hh_l0", (6, 6)), ("bias_ih_l0", (6,)),
             ("bias_hh_l0", (6,))]
TORCH_LSTMCELL = [("weight_ih", (16, 3)), ("weight_hh", (16, 4)), ("bias_ih", (16,)),
                  ("bias_hh", (16,))]
TORCH_GRUCELL_NOBIAS = [("weight_ih", (12, 3)), ("weight_hh", (12, 4))]


@pytest.mark.parametrize("module,expected", [
    (lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True), TORCH_LSTM_2L_BI),
    (lambda: nn.GRU(3, 4, num_layers=2, bias=False), TORCH_GRU_2L_NOBIAS),
    (lambda: nn.RNN(2, 6, nonlinearity="relu"), TORCH_RNN),
    (lambda: nn.LSTMCell(3, 4), TORCH_LSTMCELL),
    (lambda: nn.GRUCell(3, 4, bias=False), TORCH_GRUCELL_NOBIAS),
])
def test_state_dict_keys_and_shapes_as_torch(module, expected):
    m = module()
    assert [(k, v.shape) for k, v in m.state_dict().items()] == expected
    m.load_state_dict({k: np.ones(s, np.float32) for k, s in expected})
    assert all(np.all(p.detach().numpy() == 1) for p in m.parameters())


def test_default_init_bounds_and_repr():
    gc.manual_seed(0)
    m = nn.LSTM(3, 16, num_layers=2)
    for p in m.parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= 0.25 and a.std() > 0.25 / 3
    assert repr(m) == "LSTM(3, 16, num_layers=2)"
    assert repr(nn.GRU(3, 4, batch_first=True, bias=False)) == "GRU(3, 4, bias=False, batch_first=True)"
    assert repr(nn.RNNCell(2, 3, nonlinearity="relu")) == "RNNCell(2, 3, nonlinearity=relu)"


# ---- cells ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
def test_cell_equals_one_layer_step(kind, batched):
    rng = np.random.default_rng(11)
    cell = {"rnn_tanh": lambda: nn.RNNCell(3, 4, dtype=gc.float64),
            "rnn_relu": lambda: nn.RNNCell(3, 4, nonlinearity="relu", dtype=gc.float64),
            "lstm": lambda: nn.LSTMCell(3, 4, dtype=gc.float64),
            "gru": lambda: nn.GRUCell(3, 4, dtype=gc.float64)}[kind]()
    layer = make(kind, 3, 4, dtype=gc.float64)
    layer.load_state_dict({k + "_l0": v for k, v in state_np(cell).items()})
    x = rng.standard_normal((2, 3) if batched else (3,))
    h = rng.standard_normal((2, 4) if batched else (4,))
    c = rng.standard_normal((2, 4) if batched else (4,))
    hx = (gc.tensor(h), gc.tensor(c)) if kind == "lstm" else gc.tensor(h)
    got = cell(gc.tensor(x), hx)
    lx = gc.tensor(x[None])
    lh = (gc.tensor(h[None]), gc.tensor(c[None])) if kind == "lstm" else gc.tensor(h[None])
    out, hn = layer(lx, lh)
    if kind == "lstm":
        np.testing.assert_array_equal(got[0].detach().numpy(), hn[0].detach().numpy()[0])
        np.testing.assert_array_equal(got[1].detach().numpy(), hn[1].detach().numpy()[0])
    else:
        np.testing.assert_array_equal(got.detach().numpy(), out.detach().numpy()[0])
    default = cell(gc.tensor(x))  # hx defaults to zeros
    default = default[0] if kind == "lstm" else default
    assert default.shape == ((2, 4) if batched else (4,))


def test_cell_gradcheck():
    rng = np.random.default_rng(12)
    cell = nn.LSTMCell(2, 3, dtype=gc.float64)
    x = gc.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    h = gc.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    c = gc.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda x, h, c, *ps: cell(x, (h, c)), [x, h, c] + list(cell.parameters()))
    g = nn.GRUCell(2, 3, dtype=gc.float64)
    assert gradcheck(lambda x, h, *ps: g(x, h), [x, h] + list(g.parameters()))


# ---- errors -----------------------------------------------------------------------------------
def test_argument_errors():
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(2, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.LSTM(2, 0)
    with pytest.raises(TypeError, match="hidden_size should be of type int"):
        nn.LSTM(2, 3.0)
    with pytest.raises(ValueError, match="num_layers must be greater than zero"):
        nn.RNN(2, 3, num_layers=0)
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(2, 3, proj_size=2)
    m = nn.LSTM(2, 3)
    with pytest.raises(ValueError, match="input_size. Expected 2, got 5"):
        m(gc.zeros(4, 1, 5))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        m(gc.zeros(4, 1, 1, 2))
    with pytest.raises(ValueError, match=r"Expected hidden\[0\] size \(1, 1, 3\), got \(1, 2, 3\)"):
        m(gc.zeros(4, 1, 2), (gc.zeros(1, 2, 3), gc.zeros(1, 1, 3)))
    with pytest.raises(ValueError, match="should also be 3-D"):
        m(gc.zeros(4, 1, 2), (gc.zeros(1, 3), gc.zeros(1, 3)))
    with pytest.raises(TypeError, match="tuple"):
        m(gc.zeros(4, 1, 2), gc.zeros(1, 1, 3))
    with pytest.raises(TypeError, match="dtype"):
        m(gc.zeros(4, 1, 2, dtype=gc.float64))
    with pytest.raises(ValueError, match="sequence length"):
        m(gc.zeros(0, 1, 2))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D"):
        nn.GRUCell(2, 3)(gc.zeros(1, 1, 2))


def test_kernel_checks_shapes():
    x = np.zeros((2, 1, 3), np.float32)
    w = np.zeros((4, 3), np.float32)
    e = np.empty(0, np.float32)
    with pytest.raises(ValueError, match=r"rnn_forward: weight_hh must be"):
        run(K.rnn_forward, x, e, w, np.zeros((4, 3), np.float32), e, e, (3, 1, 3))
    with pytest.raises(ValueError, match=r"lstm_forward: weight_ih \(4, 3\) must be \(8, 3\)"):
        run(K.lstm_forward, x, e, e, w, np.zeros((8, 2), np.float32), e, e, (6, 1, 2), (2, 1, 8),
            (2, 1, 2))
    with pytest.raises(ValueError, match=r"gru_forward: state must be \(3, 1, 1\)"):
        run(K.gru_forward, x, e, np.zeros((3, 3), np.float32), np.zeros((3, 1), np.float32),
            e, e, (2, 1, 1), (2, 1, 3), (2, 1, 1))
    with pytest.raises(ValueError, match=r"rnn_forward: h0 must be \(1, 4\) or empty"):
        run(K.rnn_forward, x, np.zeros((2, 4), np.float32), w, np.zeros((4, 4), np.float32),
            e, e, (3, 1, 4))
    with pytest.raises(TypeError, match="rnn_forward: input .w_ih. must be float32 like the other T arguments"):
        run(K.rnn_forward, x, e, w.astype(np.float64), np.zeros((4, 4), np.float32), e, e,
            (3, 1, 4))
    wh = np.zeros((4, 4), np.float32)
    st = np.zeros((3, 1, 4), np.float32)
    with pytest.raises(ValueError, match=r"rnn_backward: gstate must be \(3, 1, 4\)"):
        run(K.rnn_backward, x, w, wh, st, np.zeros((2, 1, 4), np.float32), (0,), (1, 4), (4, 3),
            (4, 4), (0,), (0,))
    with pytest.raises(ValueError, match=r"rnn_backward: dx must be \(2, 1, 3\) or empty"):
        run(K.rnn_backward, x, w, wh, st, st, (2, 1, 2), (1, 4), (4, 3), (4, 4), (0,), (0,))


def test_doc_examples():
    rnn = nn.RNN(3, 5, num_layers=2)
    out, h_n = rnn(gc.randn(7, 4, 3))
    assert (out.shape, h_n.shape) == ((7, 4, 5), (2, 4, 5))
    out, (h_n, c_n) = nn.LSTM(3, 5)(gc.randn(7, 4, 3))
    assert (out.shape, c_n.shape) == ((7, 4, 5), (1, 4, 5))
    assert nn.GRU(3, 5, batch_first=True)(gc.randn(4, 7, 3))[0].shape == (4, 7, 5)
    assert nn.RNNCell(3, 5)(gc.randn(4, 3)).shape == (4, 5)
    assert nn.LSTMCell(3, 5)(gc.randn(4, 3))[1].shape == (4, 5)
    assert nn.GRUCell(3, 5)(gc.randn(4, 3)).shape == (4, 5)


def test_no_grad_forward_and_eval():
    m = nn.GRU(2, 3)
    with gc.no_grad():
        out, h = m(gc.randn(4, 2, 2))
    assert not out.requires_grad and out.shape == (4, 2, 3) and h.shape == (1, 2, 3)


# ---- optional: the same numbers as torch -----------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_torch_parity(kind):
    torch = pytest.importorskip("torch", reason="torch not installed: parity test skipped")
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    if kind.startswith("rnn"):
        tm = torch.nn.RNN(3, 4, nonlinearity=kind[4:], **kw).double()
    else:
        tm = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](3, 4, **kw).double()
    gm = make(kind, 3, 4, dtype=gc.float64, **kw)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(13).standard_normal((2, 5, 3))
    xt, xg = torch.tensor(x, requires_grad=True), gc.tensor(x, requires_grad=True)
    ot, ht = tm(xt)
    og, hg = gm(xg)
    ht, hg = (ht if isinstance(ht, tuple) else (ht,)), (hg if isinstance(hg, tuple) else (hg,))
    (ot.pow(2).sum() + sum((h * 1.5).sum() for h in ht)).backward()
    (og.pow(2).sum() + sum((h * 1.5).sum() for h in hg)).backward()
    np.testing.assert_allclose(og.detach().numpy(), ot.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(hg, ht):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (name, p), q in zip(gm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)
