"""Adagrad (torch.optim.Adagrad), one fused kernel call per parameter group."""
from ..dispatch import K
from ..tensor import full_like
from .optimizer import Optimizer, _check_options, _columns, _fused


def adagrad_(params, grads, state_sums, state_steps, *, lr, weight_decay, lr_decay, eps,
             hyper=None):
    """Functional Adagrad: ONE fused kernel call updates every parameter and its sum in place;
    ``state_steps`` are 0-d float64 tensors the kernel increments."""
    if not (len(grads) == len(state_sums) == len(state_steps) == len(params)):
        raise ValueError("adagrad_: params, grads, state_sums and state_steps must have one "
                         "entry per parameter")
    _fused(K.adagrad_step, hyper if hyper is not None else (lr, lr_decay, weight_decay, eps),
           list(zip(params, grads, state_sums, state_steps)), ())


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), as torch.optim.Adagrad.

    Update rule for parameter p with gradient g at step t::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g^2                                (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    As torch, the state (``sum``, ``step``) exists from construction on.
    """

    _shaped_state = ("sum",)
    _hyper_layout = (("lr", None), ("lr_decay", None), ("weight_decay", None), ("eps", None))

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)
        for g in self.param_groups:
            for p in g["params"]:
                self._init_state(p, g)

    def _state_names(self, g):
        return ("step", "sum")

    def _new_state(self, name, p, g):
        if name == "sum":
            return full_like(p, g["initial_accumulator_value"])
        return super()._new_state(name, p, g)

    def _validate(self, g):
        _check_options(g, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, g, params, states):
        adagrad_(params, [p.grad for p in params], *_columns(states, "sum", "step"), lr=g["lr"],
                 weight_decay=g["weight_decay"], lr_decay=g["lr_decay"], eps=g["eps"],
                 hyper=g.hyper)
