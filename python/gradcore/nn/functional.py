"""gc.nn.functional (as F): torch's functional API. Activations, softmax and losses are the
primitives in gradcore.ops; dropout and embedding are defined here.

    dropout:   y = x * m, m = [U < 1-p] / (1-p) from the global generator   dx = g * m
    embedding: y = W[idx]                                 dW = scatter-add of g rows at idx
"""
import warnings

from .. import dtypes as _dt
from ..engine import make
from ..ops import activation as _act
from ..ops.activation import gelu, sigmoid, softplus, tanh  # noqa: F401
from ..ops.conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from ..ops.elementwise import _check_float, mul
from ..ops.linear import linear  # noqa: F401
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                        cross_entropy, huber_loss, l1_loss, l1_penalty, mse_loss, nll_loss,
                        smooth_l1_loss)
from ..ops import softmax as _sm
from ..ops.pool import (adaptive_avg_pool2d, avg_pool2d, interpolate,  # noqa: F401
                        max_pool2d)
from ..registry import K, primitive, run
from ..tensor import Tensor, _empty, _wrap, as_tensor


def relu(input, inplace=False):  # noqa: A002
    """max(x, 0). ``inplace`` is accepted for torch compatibility; the result is a new tensor."""
    return _act.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return _act.leaky_relu(input, negative_slope)


def _softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):  # noqa: A002
    """exp(x) / sum(exp(x)) along dim (no dim: torch's legacy choice, with a warning)."""
    x = as_tensor(input)
    return _sm.softmax(x, _softmax_dim("softmax", x.ndim) if dim is None else dim, dtype)


def log_softmax(input, dim=None, dtype=None):  # noqa: A002
    x = as_tensor(input)
    return _sm.log_softmax(x, _softmax_dim("log_softmax", x.ndim) if dim is None else dim, dtype)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Inverted dropout: zero each element with probability p and scale the others by
    1/(1-p) when ``training``; identity otherwise (and for p = 0)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if type(input) is Tensor else as_tensor(input)
    if not training or p == 0.0:
        return x
    _check_float("dropout", x)
    return mul(x, _wrap(_mask(x._data, 1.0 - p)))


def _mask(xd, keep):
    m = _empty(xd.shape, xd.dtype)
    run(K.dropout_mask, m, keep)
    return m


# ---- embedding -----------------------------------------------------------------------------
_embedding = primitive("embedding")


def embedding(input, weight, padding_idx=None, max_norm=None):  # noqa: A002
    """Rows of ``weight`` (num, dim) picked by int64 indices: (*) -> (*, dim).
    Grad: dweight[i] = sum of g rows whose index is i; the padding_idx row gets none."""
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported")
    idx = as_tensor(input)._data
    if idx.dtype != _dt.int64:
        raise TypeError(f"embedding: indices must be int64, got {idx.dtype}")
    w = weight if type(weight) is Tensor else as_tensor(weight)
    wd = w._data
    if wd.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got {wd.shape}")
    n = wd.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: index out of range: indices must be in [0, {n}), got "
                         f"values in [{idx.min()}, {idx.max()}]")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    y = run(K.index_select0, wd, idx, idx.shape + wd.shape[1:])
    return make(y, _embedding, (w,), (idx, wd.shape, padding_idx))


@_embedding.defvjp
def _(g, needs, idx, shape, padding_idx):
    dw = run(K.index_add0, g, idx, shape)
    if padding_idx is not None:
        run(K.fill, dw[padding_idx], 0.0)
    return (dw,)
