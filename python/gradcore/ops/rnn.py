"""Recurrent layers: one primitive per layer and direction runs the whole sequence in ONE C++
kernel each way (csrc/kernels/rnn.cpp, which states the cell equations and their derivatives).

    forward:  state[, ws] = <kind>_forward(x, h0, [c0], W_ih, W_hh, b_ih, b_hh, reverse)
    backward: dx, dh0, [dc0], dW_ih, dW_hh, db_ih, db_hh = <kind>_backward(..., gstate)

A primitive has one output, so a layer's is its packed ``state`` (hidden states in time order,
h0 included, then for LSTM the cell states). The sequence output, h_n and c_n are zero-copy row
views of it (primitive ``rnn_rows``, whose rule writes its gradient into those rows and zeroes
the others); the engine sums the views' gradients into the one gradient of the state.
"""
import numpy as np

from .. import dtypes as _dt
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
_layer = {k: primitive(f"{k}_layer") for k in GATES}
_rows = primitive("rnn_rows")
_NONE = {d: np.empty(0, d) for d in _dt.FLOATS}  # an absent h0 / c0 / bias (kernel: empty)


def rows(t, r0, r1, shape):
    """Rows [r0, r1) of ``t``'s first dim, reshaped to ``shape``: a view, no copy.
    Grad: g in those rows, zeros elsewhere."""
    d = t._data
    return make(d[r0:r1].reshape(shape), _rows, (t,), (d.shape, r0, r1))


@_rows.defvjp
def _(g, needs, shape, r0, r1):
    out = _empty(shape, g.dtype)
    if r0:
        D.run(K.fill, out[:r0], 0.0)
    if r1 < shape[0]:
        D.run(K.fill, out[r1:], 0.0)
    part = out[r0:r1]
    D.run(K.expand, g.reshape(part.shape), part)
    return (out,)


def layer(kind, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One recurrent layer over a sequence, one direction.

    Shapes: x (L, N, I); h0, c0 (N, H) or None (zeros; c0 for LSTM only); w_ih (G*H, I),
    w_hh (G*H, H), b_ih, b_hh (G*H,) or both None; G = 1 (rnn_tanh, rnn_relu), 4 (lstm: gates
    i, f, g, o), 3 (gru: r, z, n). float32/float64, one dtype. ``reverse`` runs t = L-1 .. 0.
    Returns (output (L, N, H), h_n (N, H), c_n (N, H) or None), views of the layer's state.
    """
    xd, wi, wh = x._data, w_ih._data, w_hh._data
    L, N, _ = xd.shape
    G, H = GATES[kind], wh.shape[1]
    none = _NONE[xd.dtype]
    ins = [x]
    h0d = none if h0 is None else h0._data
    c0d = none if c0 is None else c0._data
    if h0 is not None:
        ins.append(h0)
    if c0 is not None:
        ins.append(c0)
    ins += [w_ih, w_hh]
    if b_ih is not None:
        bi, bh = b_ih._data, b_hh._data
        ins += [b_ih, b_hh]
    else:
        bi = bh = none
    rev = int(bool(reverse))
    if kind == "lstm":
        state, gates, tanh_c = D.run(K.lstm_forward, xd, h0d, c0d, wi, wh, bi, bh,
                                   (2 * L + 2, N, H), (L, N, 4 * H), (L, N, H), rev)
        ws = (gates, tanh_c)
    elif kind == "gru":
        state, gates, hn = D.run(K.gru_forward, xd, h0d, wi, wh, bi, bh, (L + 1, N, H),
                               (L, N, 3 * H), (L, N, H), rev)
        ws = (gates, hn)
    else:
        state = D.run(K.rnn_forward, xd, h0d, wi, wh, bi, bh, (L + 1, N, H), rev,
                    int(kind == "rnn_relu"))
        ws = ()
    flags = (h0 is not None, c0 is not None, b_ih is not None)
    s = make(state, _layer[kind], tuple(ins), (kind, rev, xd, wi, wh, state, ws, flags))
    last = 0 if rev else L  # the h_n row; the output rows start at 1 - rev
    out = rows(s, 1 - rev, L + 1 - rev, (L, N, H))
    h_n = rows(s, last, last + 1, (N, H))
    c_n = rows(s, L + 1 + last, L + 2 + last, (N, H)) if kind == "lstm" else None
    return out, h_n, c_n


def _layer_vjp(g, needs, kind, rev, xd, wi, wh, state, ws, flags):
    L, N, _ = xd.shape
    H = wh.shape[1]
    dxs = xd.shape if needs[0] else (0,)
    dbs = (wh.shape[0],) if flags[2] else (0,)
    # dh0 / dc0 only for a given initial state that needs them (else empty: the kernel skips
    # the last step's product into dh)
    want_h = flags[0] and needs[1]
    want_c = flags[1] and needs[1 + flags[0]]
    dhs, dcs = (N, H) if want_h else (0,), (N, H) if want_c else (0,)
    if kind == "lstm":
        dx, dh0, dc0, dwi, dwh, dbi, dbh = D.run(K.lstm_backward, xd, wi, wh, state, ws[0], ws[1],
                                               g, dxs, dhs, dcs, wi.shape, wh.shape, dbs, dbs, rev)
    elif kind == "gru":
        dx, dh0, dwi, dwh, dbi, dbh = D.run(K.gru_backward, xd, wi, wh, state, ws[0], ws[1], g, dxs,
                                          dhs, wi.shape, wh.shape, dbs, dbs, rev)
        dc0 = None
    else:
        dx, dh0, dwi, dwh, dbi, dbh = D.run(K.rnn_backward, xd, wi, wh, state, g, dxs, dhs,
                                          wi.shape, wh.shape, dbs, dbs, rev,
                                          int(kind == "rnn_relu"))
        dc0 = None
    grads = [dx if needs[0] else None]
    if flags[0]:
        grads.append(dh0 if want_h else None)
    if flags[1]:
        grads.append(dc0 if want_c else None)
    grads += [dwi, dwh]
    if flags[2]:
        grads += [dbi, dbh]
    return tuple(grads)


for _p in _layer.values():
    _p.defvjp(_layer_vjp)


def check_layer_args(name, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """Graph-build-time checks of ``layer``'s arguments (dtype and shapes), naming ``name``."""
    xd = x._data
    if xd.dtype not in _dt.FLOATS:
        raise TypeError(f"{name}: input must be float32 or float64, got {xd.dtype}")
    for label, t in (("h_0", h0), ("c_0", c0), ("weight_ih", w_ih), ("weight_hh", w_hh),
                     ("bias_ih", b_ih), ("bias_hh", b_hh)):
        if t is not None and (not isinstance(t, Tensor) or t._data.dtype != xd.dtype):
            got = t._data.dtype if isinstance(t, Tensor) else type(t).__name__
            raise TypeError(f"{name}: {label} must be a {xd.dtype} tensor like the input, got {got}")
