"""Parameter initialisation in place, with torch's names, gains and fan rules. Every random
number comes from gradcore's global generator (``gc.manual_seed``) through the uniform /
normal kernels; the tensors are written directly (no graph is recorded).

    xavier:  std = gain * sqrt(2 / (fan_in + fan_out)),   uniform bound = sqrt(3) * std
    kaiming: std = gain / sqrt(fan),  gain = calculate_gain(nonlinearity, a), bound = sqrt(3) * std
"""
import math
import warnings

import numpy as np

from .. import dtypes as _dt
from ..tensor import Tensor, as_tensor, empty


def _data(tensor, op):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a gradcore Tensor, got {type(tensor).__name__}")
    return tensor._data


def calculate_gain(nonlinearity, param=None):
    """Recommended gain: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
    leaky_relu sqrt(2 / (1 + slope^2)) (slope = param, default 0.01), selu 3/4."""
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d")
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (shape {tuple(shape)})")
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b) drawn from ``generator`` (a ``gc.Generator``; default: the global one)."""
    _data(tensor, "uniform_")
    return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2) drawn from ``generator`` (default: the global one)."""
    _data(tensor, "normal_")
    return tensor.normal_(mean, std, generator=generator)


def constant_(tensor, val):
    _data(tensor, "constant_")
    return tensor.fill_(val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def eye_(tensor):
    """The 2-D identity (ones on the diagonal, zeros elsewhere)."""
    d = _data(tensor, "eye_")
    if d.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {d.shape}")
    return tensor.copy_(as_tensor(np.eye(*d.shape, dtype=d.dtype)))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, op):
    if 0 in tensor.shape:
        warnings.warn(f"{op}: initializing zero-element tensors is a no-op")
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b), b = gain * sqrt(3 / fan) (He et al. 2015)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2), std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix (Saxe et al. 2013): QR of a normal matrix from the global
    generator, signs fixed by diag(R) as torch; dims after the first are flattened."""
    d = _data(tensor, "orthogonal_")
    if d.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if d.size == 0:
        return tensor
    rows, cols = d.shape[0], d.size // d.shape[0]
    flat = empty(rows, cols, dtype=_dt.float64).normal_(generator=generator).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    tensor.copy_(as_tensor(np.ascontiguousarray(q * gain)).reshape(d.shape))
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) truncated to [a, b], by redrawing the out-of-range samples."""
    d = _data(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    buf = empty(max(d.size, 1), dtype=d.dtype)
    out = d.reshape(-1)
    todo = np.arange(d.size)
    for _ in range(1000):
        if not todo.size:
            break
        vals = buf.normal_(mean, std, generator=generator).numpy()[:todo.size]
        ok = (vals >= a) & (vals <= b)
        out[todo[ok]] = vals[ok]
        todo = todo[~ok]
    if todo.size:  # only reachable for [a, b] far out in the tails
        out[todo] = np.clip(mean, a, b)
    return tensor


# As torch's: initialisers write parameters in place without recording (no_grad), so they
# work on leaves that require grad.
def _no_grad_all():
    from ..autograd import no_grad
    g = globals()
    for name, f in list(g.items()):
        if name.endswith("_") and not name.startswith("_") and callable(f):
            g[name] = no_grad()(f)


_no_grad_all()


def _reset_weight_and_bias(weight, bias):
    """torch's default init of Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) on the
    weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias (zeros when fan_in is 0)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
