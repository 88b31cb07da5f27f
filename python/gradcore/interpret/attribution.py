"""Attribution: how much each input feature matters to the model's score for a class.

The score of sample i is the raw model output ``model(x)[i, target_i]`` (a logit, before any
softmax). Every function runs the model in eval mode (every module's mode is restored
afterwards), builds its own copy of ``x`` to differentiate (``x`` and its ``.grad`` are never
touched), takes gradients with ``gc.autograd.grad`` (parameters' ``.grad`` untouched, weights
never written) and returns float64 numpy arrays of ``x``'s shape (``grad_cam``: (N, H, W)).

- saliency (Simonyan, Vedaldi & Zisserman 2014): |∂ score_i / ∂ x_i|.
- integrated gradients (Sundararajan, Taly & Yan 2017):
  IG(x) = (x - b) ⊙ ∫₀¹ ∂score/∂x (b + α(x - b)) dα, by Gauss-Legendre quadrature on [0, 1]
  (exact for polynomial paths up to degree 2·steps - 1; Captum's default rule too).
  Completeness: Σ IG(x) = f(x) - f(b), up to the quadrature error, reported as ``delta``.
- SmoothGrad (Smilkov et al. 2017): the mean gradient over ``n_samples`` copies of x with
  Gaussian noise of std ``noise_level`` · (max(x_i) - min(x_i)).
- Grad-CAM (Selvaraju et al. 2017): for a layer's feature map A (N, C, h, w),
  α_c = mean_{h,w} ∂score/∂A_c and cam = ReLU(Σ_c α_c A_c), upsampled bilinearly
  (align_corners=False) to the input's H, W.
"""
import numpy as np

from ..autograd import enable_grad, grad, no_grad
from ..diagnostics._state import eval_mode, model_dtype
from ..nn import Module
from ..nn.functional import interpolate
from ..tensor import Tensor, tensor

__all__ = ["saliency", "integrated_gradients", "smoothgrad", "grad_cam"]

_CHUNK_ROWS = 1024          # path points / noisy copies evaluated per forward pass
_RULES = ("gausslegendre", "riemann_middle", "riemann_trapezoid", "riemann_left",
          "riemann_right")


def saliency(model, x, target):
    """|∂ score_i / ∂ x_i| for every sample of ``x`` (a batch, Tensor or numpy), ``target`` an
    int or one int per sample. float64, x's shape."""
    arr, t = _prepare(model, x, target, "saliency")
    with eval_mode(model):
        return np.abs(_score_grads(model, arr, t, "saliency")[1]).astype(np.float64)


def integrated_gradients(model, x, target, baseline=None, steps=50,
                         return_convergence_delta=False, method="gausslegendre",
                         internal_batch_size=_CHUNK_ROWS):
    """Integrated gradients of the target scores along the straight path from ``baseline``
    (None: zeros; a scalar or an array broadcastable to x) to ``x``, with a ``steps``-point
    ``method`` rule ('gausslegendre', or 'riemann_middle' | 'riemann_trapezoid' |
    'riemann_left' | 'riemann_right'). Path points go through the model in batches of about
    ``internal_batch_size`` rows. Returns the attributions (float64, x's shape), or
    ``(attributions, delta)`` with ``return_convergence_delta=True``, where
    delta_i = Σ attributions_i - (f(x_i) - f(baseline_i)) (per sample, as Captum)."""
    fname = "integrated_gradients"
    arr, t = _prepare(model, x, target, fname)
    if int(steps) != steps or steps < 1:
        raise ValueError(f"{fname}: steps must be an int >= 1, got {steps!r}")
    alphas, weights = _rule(method, int(steps), fname)
    try:
        base = np.broadcast_to(np.zeros(()) if baseline is None else _array(baseline),
                               arr.shape).astype(np.float64)
    except ValueError:
        raise ValueError(f"{fname}: baseline of shape {np.shape(_array(baseline))} does not "
                         f"broadcast to x's shape {arr.shape}") from None
    diff = arr.astype(np.float64) - base
    dt = arr.dtype

    def points(ks):
        return (base + alphas[ks].reshape((-1,) + (1,) * arr.ndim) * diff).astype(dt)

    with eval_mode(model):
        avg = _weighted_grads(model, points, weights, t, fname, internal_batch_size)
        attr = diff * avg
        if not return_convergence_delta:
            return attr
        ends = _scores(model, np.concatenate([arr, base.astype(dt)]), np.tile(t, 2), fname)
    delta = attr.reshape(len(t), -1).sum(1) - (ends[:len(t)] - ends[len(t):])
    return attr, delta


def smoothgrad(model, x, target, n_samples=50, noise_level=0.15, seed=0,
               internal_batch_size=_CHUNK_ROWS):
    """SmoothGrad: the mean of ∂ score_i / ∂ x over ``n_samples`` noisy copies of each sample,
    noise N(0, σ_i²) with σ_i = ``noise_level`` · (max(x_i) - min(x_i)) (numpy generator
    seeded with ``seed``). Signed, float64, x's shape; take ``np.abs`` for a saliency-style
    map. ``noise_level=0`` gives the plain gradient."""
    fname = "smoothgrad"
    arr, t = _prepare(model, x, target, fname)
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"{fname}: n_samples must be an int >= 1, got {n_samples!r}")
    if not noise_level >= 0:
        raise ValueError(f"{fname}: noise_level must be >= 0, got {noise_level!r}")
    flat = arr.reshape(len(arr), -1).astype(np.float64)
    sigma = (noise_level * (flat.max(1) - flat.min(1))).reshape((-1,) + (1,) * (arr.ndim - 1))
    rng = np.random.default_rng(seed)

    def points(ks):   # drawn in order, so the noise does not depend on the chunk size
        noise = rng.standard_normal((len(ks),) + arr.shape) * sigma
        return (arr + noise).astype(arr.dtype)

    weights = np.full(int(n_samples), 1.0 / n_samples)
    with eval_mode(model):
        return _weighted_grads(model, points, weights, t, fname, internal_batch_size)


def grad_cam(model, layer, x, target):
    """Grad-CAM heat maps (N, H, W) float64 at x's spatial size, ReLU applied, not normalised.
    ``layer``: a module of ``model`` or its name in ``model.named_modules()``, whose output is a
    (N, C, h, w) feature map (the last conv block is the usual choice). The activation is
    captured by a forward hook and its gradient by a tensor hook, both removed afterwards; if
    the layer runs more than once per forward, its last call is used."""
    fname = "grad_cam"
    name, mod = _find_layer(model, layer, fname)
    arr, t = _prepare(model, x, target, fname)
    if arr.ndim != 4:
        raise ValueError(f"{fname}: x must be a batch of images (N, C, H, W), got shape "
                         f"{arr.shape}")
    seen, handles = {}, []

    def capture(module, args, out):
        if not isinstance(out, Tensor) or out.ndim != 4:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"{fname}: layer {name!r} outputs {shape}; Grad-CAM needs a 4-D "
                             "(N, C, h, w) feature map (pick a conv layer or block)")
        seen["A"] = out.detach()._data
        handles.append(out.register_hook(lambda g: seen.__setitem__("G", g.detach()._data)))

    handles.append(mod.register_forward_hook(capture))
    try:
        with eval_mode(model):
            _score_grads(model, arr, t, fname)
    finally:
        for h in handles:
            h.remove()
    if "G" not in seen:
        raise ValueError(f"{fname}: layer {name!r} was not part of the forward pass (or the "
                         "score does not depend on it)")
    a, g = seen["A"].astype(np.float64), seen["G"].astype(np.float64)
    cam = np.maximum(np.einsum("nc,nchw->nhw", g.mean(axis=(2, 3)), a), 0.0)
    with no_grad():
        up = interpolate(tensor(cam[:, None]), size=arr.shape[2:], mode="bilinear",
                         align_corners=False)
    return up._data[:, 0]


def _array(a):
    return a.detach().numpy() if isinstance(a, Tensor) else np.asarray(a)


def _prepare(model, x, target, fname):
    """(x as an array in the model's dtype with a batch dim, targets (N,) int64)."""
    arr = _array(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{fname}: x must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=model_dtype(model))
    if arr.ndim < 2:
        raise ValueError(f"{fname}: x must have a batch dimension (N, ...), got shape "
                         f"{arr.shape}")
    t = _array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fname}: target must be an int or one int per sample, got "
                        f"{t.dtype} {t.shape}")
    t = np.full(len(arr), int(t)) if t.ndim == 0 else t.astype(np.int64)
    if t.shape != (len(arr),):
        raise ValueError(f"{fname}: target has shape {t.shape} for {len(arr)} samples in x "
                         f"{arr.shape}; pass an int or one int per sample")
    return arr, t


def _select(out, t, fname):
    """The scores out[i, t_i] (a (N,) tensor) of a (N, classes) output."""
    if out.ndim != 2:
        raise ValueError(f"{fname}: the model output must be (N, classes), got shape "
                         f"{tuple(out.shape)}")
    if t.min() < 0 or t.max() >= out.shape[1]:
        raise ValueError(f"{fname}: target values must be in [0, {out.shape[1]}) for an "
                         f"output of shape {tuple(out.shape)}, got {t.min()}..{t.max()}")
    onehot = np.zeros(out.shape, dtype=out._data.dtype)
    onehot[np.arange(len(t)), t] = 1
    return (out * tensor(onehot)).sum(1)


def _score_grads(model, arr, t, fname):
    """(scores (N,), ∂ score_i / ∂ x_i (x's shape)) on a fresh leaf copy of ``arr``."""
    xin = tensor(arr, requires_grad=True)
    with enable_grad():
        score = _select(model(xin), t, fname)
        (g,) = grad(score.sum(), xin)
    return score.detach()._data, g._data


def _scores(model, arr, t, fname):
    with no_grad():
        return _select(model(tensor(arr)), t, fname)._data.astype(np.float64)


def _weighted_grads(model, points, weights, t, fname, rows):
    """Σ_k weights[k] · ∂score/∂x at ``points(ks)`` ((len(ks),) + x.shape), float64; each
    forward pass takes about ``rows`` rows."""
    per = max(1, int(rows) // len(t))
    total = 0.0
    for s in range(0, len(weights), per):
        ks = np.arange(s, min(len(weights), s + per))
        p = points(ks)
        g = _score_grads(model, p.reshape((-1,) + p.shape[2:]), np.tile(t, len(ks)), fname)[1]
        total = total + np.tensordot(weights[ks], g.reshape(p.shape).astype(np.float64), 1)
    return total


def _rule(method, steps, fname):
    """(nodes α_k in [0, 1], weights w_k) of a ``steps``-point rule for ∫₀¹."""
    if method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, w / 2
    if method not in _RULES:
        raise ValueError(f"{fname}: method must be one of {', '.join(_RULES)}, got {method!r}")
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError(f"{fname}: riemann_trapezoid needs steps >= 2, got {steps}")
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
        return np.linspace(0, 1, steps), w
    shift = {"riemann_middle": 0.5, "riemann_left": 0.0, "riemann_right": 1.0}[method]
    return (np.arange(steps) + shift) / steps, np.full(steps, 1.0 / steps)


def _find_layer(model, layer, fname):
    """(name, module) of ``layer``: a module of ``model`` or its name."""
    named = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in named:
            raise ValueError(f"{fname}: layer {layer!r} not found in model.named_modules(); "
                             f"names: {', '.join(repr(n) for n in named if n)}")
        return layer, named[layer]
    for n, m in named.items():
        if m is layer:
            return n, m
    if isinstance(layer, Module):
        raise ValueError(f"{fname}: layer {type(layer).__name__} is not a module of the model "
                         "(not in model.named_modules())")
    raise TypeError(f"{fname}: layer must be a module of the model or its name in "
                    f"model.named_modules(), got {type(layer).__name__}")
