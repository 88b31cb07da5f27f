"""gc.nn.functional (as F): torch's functional API. Every entry is an op declared with
``functional=True`` in ``gradcore.ops`` (activations, linear, losses, dropout, embedding),
except softmax/log_softmax, whose torch signature allows an implicit dim."""
import warnings as _warnings

from .. import ops as _ops
from ..ops import softmax as _sm
from ..tensor import as_tensor as _as_tensor

globals().update(_ops.public.functional())


def _softmax_dim(name, ndim):
    _warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                   "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):  # noqa: A002
    """exp(x) / sum(exp(x)) along dim (no dim: torch's legacy choice, with a warning)."""
    x = _as_tensor(input)
    return _sm.softmax(x, _softmax_dim("softmax", x.ndim) if dim is None else dim, dtype)


def log_softmax(input, dim=None, dtype=None):  # noqa: A002
    x = _as_tensor(input)
    return _sm.log_softmax(x, _softmax_dim("log_softmax", x.ndim) if dim is None else dim, dtype)


__all__ = sorted(list(_ops.public.functional()) + ["softmax", "log_softmax"])
