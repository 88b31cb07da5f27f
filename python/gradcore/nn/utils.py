"""Gradient clipping and flattening of parameters (torch.nn.utils).

Norms, the clip coefficient and the scaling all run in kernels on 0-d/1-element arrays, so no
gradient value is read into Python (a recorded step replays them):
    total = (sum_i ||g_i||_p^p)^(1/p)   (p = inf: max_i max |g_i|)
    coef  = min(max_norm / (total + 1e-6), 1);   g_i *= coef   (in place, as torch)
"""
import math

from .. import dtypes as _dt
from .. import dispatch as D
from ..dispatch import K
from ..tensor import Tensor, _empty, _wrap, as_tensor


def _params(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _grad_norm_p(g, p, dtype):
    """sum |g|^p (or max |g| for p = inf, or the count of non-zeros for p = 0) as a (1,) array."""
    flat = g.reshape(1, -1)
    if g.dtype != dtype:
        flat = D.run(K.cast, flat, _empty(flat.shape, dtype))
    if p == 2.0:  # g . g as a 1x1 gemm: no temporary
        return D.run(K.gemm, flat, flat, (1, 1), 0, 1).reshape(1)
    a = D.run(K.abs, flat, flat.shape)
    if math.isinf(p):
        return D.run(K.amax_to, a, (1, 1)).reshape(1)
    if p == 0.0:
        a = D.run(K.ne, a, _zero(dtype), a.shape)
        a = D.run(K.cast, a, _empty(a.shape, dtype))
    elif p != 1.0:
        a = D.run(K.pow_scalar, a, a.shape, p)
    return D.run(K.sum_to, a, (1, 1)).reshape(1)


def _zero(dtype):
    z = _empty((), dtype)
    D.run(K.fill, z, 0.0)
    return z


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    """The p-norm of all tensors together, as a 0-d tensor (0 for no tensors)."""
    ts = [as_tensor(t)._data for t in _params(tensors)]
    p = float(norm_type)
    dtype = ts[0].dtype if ts else _dt.get_default_dtype()
    acc = _empty((1,), dtype)
    D.run(K.fill, acc, 0.0)
    for t in ts:
        n = _grad_norm_p(t, p, dtype)
        D.run(K.maximum if math.isinf(p) else K.add, acc, n, acc)
    if p not in (0.0, 1.0) and not math.isinf(p):
        acc = D.run(K.sqrt, acc, acc.shape) if p == 2.0 else D.run(K.pow_scalar, acc, acc.shape, 1.0 / p)
    total = _wrap(acc.reshape(()))
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale "
                           "the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm):
    """Scale every gradient in place by min(max_norm / (total_norm + 1e-6), 1)."""
    grads = [p.grad._data for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    tn = as_tensor(total_norm)._data.reshape(1)
    coef = D.run(K.affine, tn, tn.shape, 1.0, 1e-6)
    coef = D.run(K.rdiv, coef, coef.shape, float(max_norm))
    coef = D.run(K.clamp, coef, coef.shape, float("nan"), 1.0)
    for g in grads:
        c = coef if coef.dtype == g.dtype else D.run(K.cast, coef, _empty(coef.shape, g.dtype))
        D.run(K.mul, g, c, g)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale gradients in place so that their joint p-norm is at most ``max_norm``;
    returns the norm before clipping (a 0-d tensor), as torch."""
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    v = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            g = p.grad._data
            D.run(K.clamp, g, g, -v, v)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    from ..ops.shape import cat, reshape
    params = _params(parameters)
    if not params:
        return _wrap(_empty((0,), _dt.get_default_dtype()))
    return cat([reshape(p, (-1,)) for p in params])


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
