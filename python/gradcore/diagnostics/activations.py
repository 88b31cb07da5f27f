"""``activation_gradients``: how much gradient each activation layer lets through, on real data.

For each elementwise activation module, its local derivative f'(x) at the inputs the batch
actually produces (computed by the engine: the vector-Jacobian product of the layer with a
ones seed, so every activation is supported without a formula table):
- ``mean_abs_grad``: mean |f'(x)| over the batch and units;
- ``frac_saturated``: fraction of entries where f'(x) is below 1e-2 of its peak (sigmoid: 1/4,
  tanh: 1; None for non-saturating activations);
- ``frac_dead``: fraction of units (every position but the batch dim) whose derivative is 0
  for every sample of the batch (ReLU units never active).
"""
from .. import dispatch as D
from ..autograd import grad, no_grad
from ..nn import activation as A
from ..tensor import ones

__all__ = ["activation_gradients"]

_PEAK = {A.Sigmoid: 0.25, A.Tanh: 1.0}
_ELEMENTWISE = (A.ReLU, A.LeakyReLU, A.Sigmoid, A.Tanh, A.GELU) + tuple(
    getattr(A, n) for n in ("ELU", "SiLU", "Softplus", "Mish", "Hardtanh", "ReLU6", "CELU",
                            "SELU", "Softsign", "Hardsigmoid", "Hardswish") if hasattr(A, n))


def activation_gradients(model, x, saturation=1e-2):
    """dict: layer name -> {'mean_abs_grad', 'frac_saturated', 'frac_dead'} for every
    activation module of ``model`` (a forward pass on ``x``, a tensor or a tuple of inputs;
    no parameter gradients are touched; the generator state is restored, so a dropout layer
    in train mode does not shift the random numbers of training)."""
    rng = D.get_rng_state()
    inputs = {}
    names = {m: n for n, m in model.named_modules() if isinstance(m, _ELEMENTWISE)}
    hooks = [m.register_forward_hook(lambda m, a, o: inputs.__setitem__(m, a[0].detach()))
             for m in names]
    try:
        with no_grad():
            model(*(x if isinstance(x, tuple) else (x,)))
    finally:
        for h in hooks:
            h.remove()
        D.set_rng_state(rng)
    out = {}
    for m, xin in inputs.items():
        z = xin.detach().requires_grad_(True)
        (d,) = grad(m(z), z, grad_outputs=ones(z.shape, dtype=z.dtype))
        with no_grad():
            a = d.abs()
            peak = _PEAK.get(type(m))
            sat = None if peak is None else (a < saturation * peak).float().mean().item()
            units = (a > 0).float().reshape(a.shape[0], -1).amax(0) if a.ndim > 1 else None
            dead = 0.0 if units is None else 1.0 - units.mean().item()
            out[names[m]] = {"mean_abs_grad": a.mean().item(), "frac_saturated": sat,
                             "frac_dead": dead}
    return out
