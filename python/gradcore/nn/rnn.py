"""Recurrent layers RNN, LSTM, GRU and their cells, with torch's arguments, parameter names,
shapes, gate order, default initialisation and return values.

Each layer and direction is one primitive over the whole sequence (gradcore/ops/rnn.py, one
C++ kernel each way); layers stack in Python with dropout between them in train() only.

    RNN:  h' = tanh | relu(x W_ih^T + b_ih + h W_hh^T + b_hh)
    LSTM: i, f, g, o = s, s, tanh, s of (x W_ih^T + b_ih + h W_hh^T + b_hh) in 4 chunks
          c' = f * c + i * g,  h' = o * tanh(c')
    GRU:  r, z = s(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
          n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),  h' = (1 - z) * n + z * h
"""
import math
import numbers
import warnings

from .. import dtypes as _dt
from ..ops import rnn as _R
from ..ops.shape import cat, transpose
from ..tensor import Tensor, as_tensor, empty
from . import functional as F
from . import init
from .module import Module, Parameter

_NAMES = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _nonlinearity_kind(nonlinearity):
    if nonlinearity == "tanh":
        return "rnn_tanh"
    if nonlinearity == "relu":
        return "rnn_relu"
    raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _check_sizes(input_size, hidden_size):
    for label, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{label} should be of type int, got: {type(v).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if input_size < 0:
        raise ValueError(f"input_size must be >= 0, got {input_size}")


class RNNBase(Module):
    """Shared parts of RNN, LSTM and GRU: parameters weight_ih_l{k}[_reverse] (G*H, in),
    weight_hh_l{k}[_reverse] (G*H, H), bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] (G*H,),
    all ~ U(-1/sqrt(H), 1/sqrt(H)) as torch."""

    def __init__(self, kind, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size != 0:
            raise NotImplementedError("LSTM proj_size is not supported by gradcore (use 0)")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self._kind = kind
        self.mode = {"rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}.get(kind, kind.upper())
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.proj_size = 0
        dtype = _dt.canonical(dtype) or _dt.get_default_dtype()
        D, gate = 2 if bidirectional else 1, _R.GATES[kind] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                shapes = [(gate, in_size), (gate, hidden_size)]
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    shapes += [(gate,), (gate,)]
                for n, s in zip(names, shapes):
                    setattr(self, n, Parameter(empty(*s, dtype=dtype)))
                self._flat_weights_names += names
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """No-op (torch compacts cuDNN weights here); kept so torch code runs unchanged."""

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        w, k = self._flat_weights, 4 if self.bias else 2
        return [w[i:i + k] for i in range(0, len(w), k)]

    def _hidden(self, hx, label, N, batched, dtype):
        """hx as a (D * num_layers, N, H) tensor (None stays None), checked."""
        if hx is None:
            return None
        h = as_tensor(hx)
        name = _NAMES[self._kind]
        want = 3 if batched else 2
        if h.ndim != want:
            raise ValueError(f"{name}: for {'batched 3' if batched else 'unbatched 2'}-D input, "
                             f"{label} should also be {want}-D but got {h.ndim}-D tensor")
        D = 2 if self.bidirectional else 1
        expected = (D * self.num_layers, N, self.hidden_size)
        got = h.shape if batched else (h.shape[0], 1, h.shape[1])
        if got != expected:
            shown = expected if batched else (expected[0], expected[2])
            raise ValueError(f"{name}: Expected {label} size {shown}, got {h.shape}")
        if h.dtype != dtype:
            raise TypeError(f"{name}: {label} dtype {h.dtype} differs from input dtype {dtype}")
        return h if batched else h.reshape(expected)

    def _run(self, input, h0, c0):  # noqa: A002
        """Stack the layers. Returns (output, h_n, c_n or None) in the user's layout."""
        name, kind = _NAMES[self._kind], self._kind
        x = input if type(input) is Tensor else as_tensor(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D tensor instead")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {x.shape[-1]} (input shape {x.shape})")
        if x.dtype not in _dt.FLOATS:
            raise TypeError(f"{name}: input must be float32 or float64, got {x.dtype}")
        batched = x.ndim == 3
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = transpose(x, 0, 1)
        L, N = x.shape[0], x.shape[1]
        if L == 0:
            raise ValueError(f"{name}: Expected sequence length to be larger than 0, got input "
                             f"shape {input.shape}")
        h0 = self._hidden(h0, "hidden" if c0 is None else "hidden[0]", N, batched, x.dtype)
        c0 = self._hidden(c0, "hidden[1]", N, batched, x.dtype)
        D, H = (2 if self.bidirectional else 1), self.hidden_size
        w, k = self._flat_weights, 4 if self.bias else 2
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                i = layer * D + d
                p = w[i * k:(i + 1) * k]
                if p[0].dtype != x.dtype:
                    raise TypeError(f"{name}: input dtype {x.dtype} differs from the weights' "
                                    f"{p[0].dtype}")
                hi = None if h0 is None else _R.rows(h0, i, i + 1, (N, H))
                ci = None if c0 is None else _R.rows(c0, i, i + 1, (N, H))
                out, hn, cn = _R.layer(kind, x, hi, ci, *p, reverse=d == 1)
                outs.append(out)
                hs.append(hn)
                cs.append(cn)
            x = outs[0] if D == 1 else cat(outs, 2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = _stack(hs, N, H)
        c_n = _stack(cs, N, H) if kind == "lstm" else None
        if not batched:
            x = x.reshape(L, D * H)
            h_n = h_n.reshape(h_n.shape[0], H)
            c_n = None if c_n is None else c_n.reshape(c_n.shape[0], H)
        elif self.batch_first:
            x = transpose(x, 0, 1)
        return x, h_n, c_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


def _stack(ts, N, H):
    if len(ts) == 1:
        return ts[0].reshape(1, N, H)
    return cat([t.reshape(1, N, H) for t in ts], 0)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked.
    Shapes: input (L, N, in) ((N, L, in) if batch_first; (L, in) unbatched), h_0 (D*layers, N, H)
    -> output (L, N, D*H), h_n (D*layers, N, H); D = 2 if bidirectional else 1.

    >>> rnn = gc.nn.RNN(3, 5, num_layers=2)
    >>> out, h_n = rnn(gc.randn(7, 4, 3))
    >>> out.shape, h_n.shape
    ((7, 4, 5), (2, 4, 5))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=None):
        super().__init__(_nonlinearity_kind(nonlinearity), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n


class LSTM(RNNBase):
    """LSTM (gates i, f, g, o; c' = f c + i g, h' = o tanh(c')), stacked.
    Shapes: as RNN; hx = (h_0, c_0) -> (output, (h_n, c_n)). proj_size is not supported.

    >>> lstm = gc.nn.LSTM(3, 5)
    >>> out, (h_n, c_n) = lstm(gc.randn(7, 4, 3))
    >>> out.shape, c_n.shape
    ((7, 4, 5), (1, 4, 5))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """GRU (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) n + z h), stacked. Shapes: as RNN.

    >>> gru = gc.nn.GRU(3, 5, batch_first=True)
    >>> out, h_n = gru(gc.randn(4, 7, 3))
    >>> out.shape
    (4, 7, 5)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n


class RNNCellBase(Module):
    """One step: parameters weight_ih (G*H, in), weight_hh (G*H, H), bias_ih, bias_hh (G*H,),
    all ~ U(-1/sqrt(H), 1/sqrt(H)); runs as the layer primitive with L = 1."""

    def __init__(self, kind, input_size, hidden_size, bias=True, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self._kind = kind
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bool(bias)
        dtype = _dt.canonical(dtype) or _dt.get_default_dtype()
        gate = _R.GATES[kind] * hidden_size
        self.weight_ih = Parameter(empty(gate, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(gate, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(gate, dtype=dtype))
            self.bias_hh = Parameter(empty(gate, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _step(self, input, h, c):  # noqa: A002
        name = type(self).__name__
        x = input if type(input) is Tensor else as_tensor(input)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got {x.shape[-1]} "
                             f"expected {self.input_size} (input shape {x.shape})")
        batched = x.ndim == 2
        N, H = (x.shape[0] if batched else 1), self.hidden_size
        hc = []
        for label, t in (("hidden", h), ("cell", c)):
            if t is not None:
                t = as_tensor(t)
                if t.ndim != x.ndim or t.shape != ((N, H) if batched else (H,)):
                    raise ValueError(f"{name}: {label} state {t.shape} does not fit input "
                                     f"{x.shape}: expected {(N, H) if batched else (H,)}")
                t = t if batched else t.reshape(1, H)
            hc.append(t)
        p = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        _R.check_layer_args(name, x, hc[0], hc[1], *p)
        _, h1, c1 = _R.layer(self._kind, x.reshape(1, N, x.shape[-1]), hc[0], hc[1], *p)
        if not batched:
            h1 = h1.reshape(H)
            c1 = None if c1 is None else c1.reshape(H)
        return h1, c1

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).
    Shapes: input (N, in) or (in,), hx (N, H) or (H,) (default zeros) -> h' like hx.

    >>> cell = gc.nn.RNNCell(3, 5)
    >>> cell(gc.randn(4, 3)).shape
    (4, 5)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None):
        super().__init__(_nonlinearity_kind(nonlinearity), input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from input (N, in) or (in,) and hx = (h, c) (default zeros).

    >>> h, c = gc.nn.LSTMCell(3, 5)(gc.randn(4, 3))
    >>> c.shape
    (4, 5)
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):  # noqa: A002
        h = c = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTMCell: hx must be a tuple (h, c)")
            h, c = hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """One GRU step: h' = (1 - z) n + z h from input (N, in) or (in,) and hx (default zeros).

    >>> gc.nn.GRUCell(3, 5)(gc.randn(4, 3)).shape
    (4, 5)
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):  # noqa: A002
        return self._step(input, hx, None)[0]
