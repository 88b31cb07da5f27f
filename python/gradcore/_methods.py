"""Bind every op's Tensor methods and operators (declared with ``ops.public``) onto Tensor."""
from .ops import public as _public
from .ops.shape import reshape, expand, t, transpose
from .tensor import Tensor

for _e in _public.EXPORTS:
    for _name, _fn in _e.methods:
        setattr(Tensor, _name, _fn)
Tensor.__pos__ = lambda self: self
Tensor.T = property(t)
Tensor.mT = property(lambda self: transpose(self, -2, -1))
Tensor.expand_as = lambda self, other: expand(self, other.shape)
Tensor.view_as = lambda self, other: reshape(self, other.shape)
Tensor.reshape_as = lambda self, other: reshape(self, other.shape)
