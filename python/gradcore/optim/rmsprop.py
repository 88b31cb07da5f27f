"""RMSprop (torch.optim.RMSprop): plain, centered, with momentum, one fused call per group."""
from ..dispatch import K
from .optimizer import Optimizer, _check_options, _columns, _fused


def rmsprop_(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, *, lr,
             alpha, eps, weight_decay, momentum, centered, hyper=None):
    """Functional RMSprop: ONE fused kernel call updates every parameter and its state in place.
    ``grad_avgs`` are used only when ``centered``, ``momentum_buffer_list`` only when
    ``momentum > 0``; ``state_steps`` are 0-d float64 tensors the kernel increments."""
    lists = [grads, square_avgs, state_steps] + ([momentum_buffer_list] if momentum > 0 else []) \
        + ([grad_avgs] if centered else [])
    if any(len(x) != len(params) for x in lists):
        raise ValueError("rmsprop_: every state list must have one entry per parameter")
    tuples = []
    for i, p in enumerate(params):
        t = [p, grads[i], state_steps[i], square_avgs[i]]
        if momentum > 0:
            t.append(momentum_buffer_list[i])
        if centered:
            t.append(grad_avgs[i])
        tuples.append(t)
    _fused(K.rmsprop_step, hyper if hyper is not None else (lr, alpha, eps, weight_decay, momentum),
           tuples, (centered,))


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop.

    Update rule for parameter p with gradient g::

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g^2
        centered:  a = alpha * a + (1 - alpha) * g,  den = sqrt(s - a^2) + eps
        else:      den = sqrt(s) + eps
        momentum > 0:  b = momentum * b + g / den,  p = p - lr * b
        else:          p = p - lr * g / den

    >>> opt = gc.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9, centered=True)
    """

    _shaped_state = ("square_avg", "momentum_buffer", "grad_avg")
    _hyper_layout = (("lr", None), ("alpha", None), ("eps", None), ("weight_decay", None),
                     ("momentum", None))

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, g):
        _check_options(g, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _state_names(self, g):
        return (("step", "square_avg") + (("momentum_buffer",) if g["momentum"] > 0 else ())
                + (("grad_avg",) if g["centered"] else ()))

    def _update(self, g, params, states):
        rmsprop_(params, [p.grad for p in params],
                 *_columns(states, "square_avg", "grad_avg", "momentum_buffer", "step"),
                 lr=g["lr"], alpha=g["alpha"], eps=g["eps"], weight_decay=g["weight_decay"],
                 momentum=g["momentum"], centered=g["centered"], hyper=g.hyper)
