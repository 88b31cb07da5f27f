"""Gradient clipping and flattening of parameters (torch.nn.utils).

Norms, the clip coefficient and the scaling are ops on 1-element tensors, so no gradient value
is read into Python (a recorded step replays them):
    total = (sum_i ||g_i||_p^p)^(1/p)   (p = inf: max_i max |g_i|)
    coef  = min(max_norm / (total + 1e-6), 1);   g_i *= coef   (in place, as torch)
"""
import math

from .. import dtypes as _dt
from .. import profiler as _profiler
from ..autograd import no_grad
from ..ops.activation import clamp
from ..ops.elementwise import abs, add, div, maximum, ne, pow, sqrt  # noqa: A004
from ..ops.linear import linear
from ..ops.reduce import amax, sum as _sum
from ..ops.shape import cat, reshape
from ..tensor import Tensor, _empty, _wrap, as_tensor, zeros


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm_p(g, p, dtype):
    """sum |g|^p (or max |g| for p = inf, or the count of non-zeros for p = 0), shape (1,)."""
    flat = g.to(dtype).reshape(1, -1)
    if p == 2.0:  # g . g as one gemm (linear reads the second operand transposed): no temporary
        return linear(flat, flat).reshape(1)
    a = abs(flat)
    if math.isinf(p):
        return amax(a, 1)
    if p == 0.0:
        return _sum(ne(a, 0.0).to(dtype), 1)
    return _sum(a if p == 1.0 else pow(a, p), 1)


@no_grad()
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    """The p-norm of all tensors together, as a 0-d tensor (0 for no tensors)."""
    ts = [as_tensor(t) for t in _params(tensors)]
    p = float(norm_type)
    dtype = ts[0].dtype if ts else _dt.get_default_dtype()
    acc = zeros(1, dtype=dtype)
    for t in ts:
        acc = (maximum if math.isinf(p) else add)(acc, _norm_p(t, p, dtype))
    if p not in (0.0, 1.0) and not math.isinf(p):
        acc = sqrt(acc) if p == 2.0 else pow(acc, 1.0 / p)
    total = acc.reshape(())
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale "
                           "the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return total


@no_grad()
def clip_grads_with_norm_(parameters, max_norm, total_norm):
    """Scale every gradient in place by min(max_norm / (total_norm + 1e-6), 1)."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    coef = clamp(div(float(max_norm), add(as_tensor(total_norm).reshape(1), 1e-6)), max=1.0)
    for g in grads:
        g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale gradients in place so that their joint p-norm is at most ``max_norm``;
    returns the norm before clipping (a 0-d tensor), as torch."""
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    with _profiler.label("nn.utils.clip_grad_norm_"):
        total = get_total_norm(grads, norm_type, error_if_nonfinite)
        clip_grads_with_norm_(params, max_norm, total)
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    v = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            p.grad.clamp_(-v, v)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = _params(parameters)
    if not params:
        return _wrap(_empty((0,), _dt.get_default_dtype()))
    return cat([reshape(p, (-1,)) for p in params])


@no_grad()
def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' storage."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected gradcore.Tensor, but got: {type(vec).__name__}")
    params = _params(parameters)
    need = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != need:
        raise ValueError(f"vector_to_parameters: vec of shape {vec.shape} does not hold the "
                         f"{need} elements of the parameters")
    vd, i = vec._data, 0
    for p in params:
        n = p.numel()
        p.copy_(_wrap(vd[i:i + n].reshape(p.shape)))
        i += n
