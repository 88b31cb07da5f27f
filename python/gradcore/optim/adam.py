"""Adam and AdamW (torch.optim.Adam / AdamW), one fused kernel call per parameter group."""
from ..dispatch import K
from .optimizer import Optimizer, _check, _check_options, _columns, _fused


def adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
          beta1, beta2, lr, weight_decay, eps, decoupled_weight_decay=False, hyper=None):
    """Functional Adam: ONE fused kernel call updates every parameter and its state in place.

    Every list has one entry per parameter (``max_exp_avg_sqs`` only with ``amsgrad``);
    ``state_steps`` are 0-d float64 tensors, incremented by the kernel before the update;
    ``hyper`` (a group's ``ParamGroup.hyper``) replaces the five numbers when given.
    """
    lists = [grads, exp_avgs, exp_avg_sqs, state_steps] + ([max_exp_avg_sqs] if amsgrad else [])
    if any(len(x) != len(params) for x in lists):
        raise ValueError("adam_: params, grads, exp_avgs, exp_avg_sqs, state_steps (and "
                         "max_exp_avg_sqs with amsgrad) must have one entry per parameter")
    if amsgrad:
        tuples = list(zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps))
    else:
        tuples = list(zip(params, grads, exp_avgs, exp_avg_sqs, state_steps))
    _fused(K.adam_step, hyper if hyper is not None else (lr, beta1, beta2, eps, weight_decay),
           tuples, (amsgrad, decoupled_weight_decay))


def adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, **kw):
    """Functional AdamW: ``adam_`` with decoupled weight decay (p *= 1 - lr * weight_decay)."""
    adam_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps,
          decoupled_weight_decay=True, **kw)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), as torch.optim.Adam; AdamW with decoupled weight decay.

    Update rule for parameter p with gradient g at step t::

        g = g + weight_decay * p                  (Adam)
        p = p * (1 - lr * weight_decay)           (AdamW: decoupled_weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                     (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    >>> opt = gc.optim.Adam(model.parameters(), lr=1e-3)
    """

    _shaped_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _hyper_layout = (("lr", None), ("betas", 0), ("betas", 1), ("eps", None), ("weight_decay", None))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate(self, g):
        b = g["betas"]
        _check(len(b) == 2, f"Invalid betas: {b} (expected two values)")
        _check(0.0 <= b[0] < 1.0, f"Invalid beta parameter at index 0: {b[0]}")
        _check(0.0 <= b[1] < 1.0, f"Invalid beta parameter at index 1: {b[1]}")
        _check_options(g, "lr", "eps", "weight_decay")

    def _state_names(self, g):
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if g["amsgrad"] else ())

    def _update(self, g, params, states):
        adam_(params, [p.grad for p in params],
              *_columns(states, "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"),
              amsgrad=g["amsgrad"], beta1=g["betas"][0], beta2=g["betas"][1], lr=g["lr"],
              weight_decay=g["weight_decay"], eps=g["eps"],
              decoupled_weight_decay=g.get("decoupled_weight_decay", False), hyper=g.hyper)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as torch.optim.AdamW:
    ``p *= 1 - lr * weight_decay`` before the Adam update instead of ``g += weight_decay * p``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
