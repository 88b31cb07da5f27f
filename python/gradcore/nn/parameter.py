"""Parameter: the leaf tensors a Module registers and optimizers update."""
import numpy as np

from ..tensor import Tensor, as_tensor, empty


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a parameter; ``requires_grad=True`` by default.
    ``Parameter(t)`` shares ``t``'s storage (as torch).

    >>> w = gc.nn.Parameter(gc.zeros(3))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        src = empty(0) if data is None else as_tensor(data)
        p = Tensor.__new__(cls)
        p._data, p.grad, p._node, p.requires_grad = src._data, None, None, False
        if requires_grad:
            p.requires_grad_()
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto):  # copy/pickle: a new Parameter over copied data
        return (Parameter, (np.array(self._data), self.requires_grad))

    def __deepcopy__(self, memo):
        p = Parameter(np.array(self._data), self.requires_grad)
        if self.grad is not None:
            p.grad = self.grad.detach().clone()
        memo[id(self)] = p
        return p
