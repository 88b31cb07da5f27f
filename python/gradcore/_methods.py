"""Bind operators and methods onto gc.Tensor (one table, torch's names)."""
from .ops import activation as A, elementwise as E, matmul as M, reduce as R, shape as S
from .ops import softmax as SM
from .tensor import Tensor


def _r(f):
    return lambda self, other: f(other, self)


_TABLE = {
    "__add__": E.add, "__radd__": _r(E.add), "__sub__": E.sub, "__rsub__": _r(E.sub),
    "__mul__": E.mul, "__rmul__": _r(E.mul), "__truediv__": E.div, "__rtruediv__": _r(E.div),
    "__pow__": E.pow, "__rpow__": _r(E.pow), "__matmul__": M.matmul, "__rmatmul__": _r(M.matmul),
    "__neg__": E.neg, "__pos__": lambda self: self, "__abs__": E.abs,
    "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt, "__ge__": E.ge, "__eq__": E.eq, "__ne__": E.ne,
    "__getitem__": S.getitem,
    "add": E.add, "sub": E.sub, "mul": E.mul, "div": E.div, "pow": E.pow, "neg": E.neg,
    "maximum": E.maximum, "minimum": E.minimum, "exp": E.exp, "log": E.log, "sqrt": E.sqrt,
    "abs": E.abs, "sin": E.sin, "cos": E.cos, "rsqrt": E.rsqrt, "square": E.square,
    "lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge, "eq": E.eq, "ne": E.ne,
    "relu": A.relu, "leaky_relu": A.leaky_relu, "sigmoid": A.sigmoid, "tanh": A.tanh,
    "gelu": A.gelu, "softplus": A.softplus, "clamp": A.clamp, "clip": A.clamp,
    "sum": R.sum, "mean": R.mean, "var": R.var, "std": R.std, "amax": R.amax, "amin": R.amin,
    "max": R.max, "min": R.min, "argmax": R.argmax, "argmin": R.argmin,
    "reshape": S.reshape, "view": S.view, "flatten": S.flatten, "unsqueeze": S.unsqueeze,
    "squeeze": S.squeeze, "permute": S.permute, "transpose": S.transpose, "t": S.t,
    "expand": S.expand, "matmul": M.matmul, "mm": M.mm, "bmm": M.bmm, "dot": M.dot,
    "softmax": SM.softmax, "log_softmax": SM.log_softmax, "logsumexp": SM.logsumexp,
    "where": lambda self, cond, other: E.where(cond, self, other),
}
for _name, _fn in _TABLE.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(S.t)
Tensor.mT = property(lambda self: S.transpose(self, -2, -1))
Tensor.expand_as = lambda self, other: S.expand(self, other.shape)
Tensor.view_as = lambda self, other: S.reshape(self, other.shape)
Tensor.reshape_as = lambda self, other: S.reshape(self, other.shape)
