"""Adagrad (torch.optim.Adagrad), one fused kernel call per parameter group."""
from ..registry import K
from ..tensor import full_like
from .optimizer import Optimizer, _check, _fused, _step_tensor


def adagrad_(params, grads, state_sums, state_steps, *, lr, weight_decay, lr_decay, eps):
    """Functional Adagrad: ONE fused kernel call updates every parameter and its sum in place;
    ``state_steps`` are 0-d float64 tensors the kernel increments."""
    if not (len(grads) == len(state_sums) == len(state_steps) == len(params)):
        raise ValueError("adagrad_: params, grads, state_sums and state_steps must have one "
                         "entry per parameter")
    _fused(K.adagrad_step, list(zip(params, grads, state_sums, state_steps)),
           (lr, lr_decay, weight_decay, eps))


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

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)
        for g in self.param_groups:
            for p in g["params"]:
                self._init_state(p, g)

    def _init_state(self, p, g):
        s = self.state.setdefault(p, {})
        if "sum" not in s:
            s["step"] = _step_tensor()
            s["sum"] = full_like(p, g["initial_accumulator_value"])
        return s

    def _validate(self, g):
        _check(g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(g["lr_decay"] >= 0.0, f"Invalid lr_decay value: {g['lr_decay']}")
        _check(g["weight_decay"] >= 0.0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(g["initial_accumulator_value"] >= 0.0,
               f"Invalid initial_accumulator_value value: {g['initial_accumulator_value']}")
        _check(g["eps"] >= 0.0, f"Invalid epsilon value: {g['eps']}")
        _check(not g.get("maximize", False), "maximize=True is not supported")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._closure_loss(closure)
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            states = [self._init_state(p, g) for p in params]
            adagrad_(params, [p.grad for p in params], [s["sum"] for s in states],
                     [s["step"] for s in states], lr=g["lr"], weight_decay=g["weight_decay"],
                     lr_decay=g["lr_decay"], eps=g["eps"])
        return loss
