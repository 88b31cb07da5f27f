"""Activations: relu, leaky_relu, sigmoid, tanh, gelu, softplus, clamp.
Kernels: csrc/kernels/activation.cpp (forward and backward adjacent)."""
from .public import public
from .. import _C
from ..engine import make
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, as_tensor
from .elementwise import _check_float

_graph_op = _C.graph_op


def _activation(name, save_output):
    """Forward for kernel `name` with attrs; vjp runs `name`_backward on (g, saved, *attrs)."""
    prim = primitive(name)
    kid, bid = getattr(K, name), getattr(K, name + "_backward")
    save = 1 if save_output else 2  # graph_op's codes for (y, attrs) and (x, attrs)

    def fwd(x, *attrs):
        if not attrs:  # the common case in C (bind/graph.cpp)
            r = _graph_op(prim, kid, save, x)
            if r is not NotImplemented:
                return r
        x = x if type(x) is Tensor else as_tensor(x)
        _check_float(name, x)
        xd = x._data
        y = D.run(kid, xd, xd.shape, *attrs)
        return make(y, prim, (x,), (y if save_output else xd, attrs))

    prim.defvjp_table((bid, 0), attrs=1)  # bid(g, saved, g.shape, *attrs)
    fwd.fast = (prim, kid, save)  # for public wrappers that call graph_op themselves
    return fwd


_relu = _activation("relu", True)                # dx = g*[y > 0]
_leaky_relu = _activation("leaky_relu", False)   # dx = g*(x > 0 ? 1 : slope)
_sigmoid = _activation("sigmoid", True)          # dx = g*y*(1 - y)
_tanh = _activation("tanh", True)                # dx = g*(1 - y^2)
_gelu = _activation("gelu", False)               # dx = g*(Phi(x) + x*phi(x))
_gelu_tanh = _activation("gelu_tanh", False)
_softplus = _activation("softplus", False)       # dx = g*sigmoid(beta*x) below the threshold
_clamp = _activation("clamp", False)             # dx = g*[min <= x <= max]
_RELU, _SIGMOID, _TANH = _relu.fast, _sigmoid.fast, _tanh.fast


@public(method=True, functional=True)
def relu(x, inplace=False):
    """max(x, 0). ``inplace`` is accepted for torch compatibility; the result is a new tensor."""
    r = _graph_op(*_RELU, x)  # graph_op here, not in _relu: one Python frame less per call
    return r if r is not NotImplemented else _relu(x)


@public(method=True, functional=True)
def leaky_relu(x, negative_slope=0.01, inplace=False):
    return _leaky_relu(x, float(negative_slope))


@public(method=True, functional=True)
def sigmoid(x):
    r = _graph_op(*_SIGMOID, x)  # as relu
    return r if r is not NotImplemented else _sigmoid(x)


@public(method=True, functional=True)
def tanh(x):
    r = _graph_op(*_TANH, x)  # as relu
    return r if r is not NotImplemented else _tanh(x)


@public(method=True, functional=True)
def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gelu(x) if approximate == "none" else _gelu_tanh(x)


@public(method=True, functional=True)
def softplus(x, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return _softplus(x, float(beta), float(threshold))


@public(method=["clamp", "clip"], aliases=("clip",))
def clamp(x, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    inf = float("inf")  # an absent bound is ±inf; a NaN bound makes every element NaN (torch)
    return _clamp(x, -inf if min is None else float(min), inf if max is None else float(max))


