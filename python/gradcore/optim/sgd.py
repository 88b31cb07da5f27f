"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD)."""
from ..dispatch import K
from ..tensor import zeros_like
from .optimizer import Optimizer, _check, _check_options, _fused


def sgd_(params, grads, momentum_buffer_list, *, lr, momentum=0.0, dampening=0.0,
         weight_decay=0.0, nesterov=False, hyper=None):
    """Functional SGD: ONE fused kernel call updates every parameter in place.

    ``momentum_buffer_list`` holds one buffer per parameter, or None where there is none yet:
    with momentum, such entries are replaced (in the list) by new buffers equal to that step's
    ``d`` (the rule's first step). Shapes: each grad and buffer as its parameter.
    """
    if len(grads) != len(params) or (momentum and len(momentum_buffer_list) != len(params)):
        raise ValueError(f"sgd_: got {len(params)} params, {len(grads)} grads and "
                         f"{len(momentum_buffer_list)} momentum buffers")
    if not momentum:
        _fused(K.sgd_step, hyper if hyper is not None else (lr, 0.0, dampening, weight_decay),
               list(zip(params, grads)), (nesterov, 0))
        return
    fresh = [b is None for b in momentum_buffer_list]
    for i, p in enumerate(params):
        if fresh[i]:
            momentum_buffer_list[i] = zeros_like(p)
    _fused(K.sgd_step, hyper if hyper is not None else (lr, momentum, dampening, weight_decay),
           list(zip(params, grads, momentum_buffer_list)), (nesterov,), fresh=fresh)


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as torch.optim.SGD.

    Update rule for each parameter p with gradient g (t = step number)::

        g = g + weight_decay * p                           (weight_decay != 0)
        b = g                                              (t = 1)
        b = momentum * b + (1 - dampening) * g             (t > 1)      (momentum != 0)
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    >>> opt = gc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    _shaped_state = ("momentum_buffer",)
    _hyper_layout = (("lr", None), ("momentum", None), ("dampening", None), ("weight_decay", None))

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, g):
        _check_options(g, "lr", "momentum", "weight_decay")
        _check(not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _update(self, g, params, states):
        # No lazily created state: a missing momentum buffer is made by sgd_ (b = g, t = 1).
        bufs = [s.get("momentum_buffer") for s in states]
        sgd_(params, [p.grad for p in params], bufs, lr=g["lr"], momentum=g["momentum"],
             dampening=g["dampening"], weight_decay=g["weight_decay"], nesterov=g["nesterov"],
             hyper=g.hyper)
        if g["momentum"]:
            for p, b in zip(params, bufs):
                self.state.setdefault(p, {})["momentum_buffer"] = b
