"""Inverted dropout: y = x * m, m = [U < 1-p] / (1-p) drawn by the dropout_mask kernel from the
global generator (so a replayed step draws new masks)        dx = g * m  (mul's rule)."""
from .. import dispatch as D
from ..dispatch import K
from ..tensor import Tensor, _empty, _wrap, as_tensor
from .elementwise import _check_float, mul
from .public import public


@public(function=False, functional=True)
def dropout(input, p=0.5, training=True, inplace=False, generator=None):  # noqa: A002
    """Inverted dropout: zero each element with probability p and scale the others by
    1/(1-p) when ``training``; identity otherwise (and for p = 0). ``inplace`` is accepted for
    torch compatibility; the result is a new tensor. The mask comes from ``generator``
    (a ``gc.Generator``; default: the global one)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if type(input) is Tensor else as_tensor(input)
    if not training or p == 0.0:
        return x
    _check_float("dropout", x)
    m = _empty(x._data.shape, x._data.dtype)
    from ..generator import state_of
    D.run(K.dropout_mask, state_of(generator, "dropout"), m, keep=1.0 - p)
    return mul(x, _wrap(m))
