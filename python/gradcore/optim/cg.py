"""Nonlinear conjugate gradient (Polak-Ribiere+ by default) with a strong-Wolfe line search,
on the same flat-vector machinery as LBFGS (_linesearch.py)."""
import math

from . import _vec as V
from ._linesearch import _FlatOptimizer
from .optimizer import _check

_BETAS = ("PR+", "PR", "FR", "HS", "DY")


def _beta(rule, g, prev_g, d):
    """Conjugacy coefficient for d_new = -g + beta d, with y = g - prev_g:
    FR g.g/p.p   PR g.y/p.p   PR+ max(0, PR)   HS g.y/d.y   DY g.g/d.y   (p = prev_g)."""
    gg = V.dot(g, g)
    if rule in ("FR", "DY"):
        num = gg
    else:
        y = V.axpby_(V.scaled(g, 1.0), -1.0, prev_g)
        num = V.dot(g, y)
    if rule in ("HS", "DY"):
        den = V.dot(d, g) - V.dot(d, prev_g)
    else:
        den = V.dot(prev_g, prev_g)
    if den == 0.0 or not math.isfinite(num / den):
        return 0.0  # restart
    b = num / den
    return max(b, 0.0) if rule == "PR+" else b


class ConjugateGradient(_FlatOptimizer):
    """Nonlinear conjugate gradient, ``step(closure)`` as LBFGS (one parameter group).

    Each iteration: d = -g + beta d with beta from ``beta`` ('PR+' Polak-Ribiere clipped at 0,
    which restarts along -g by itself; also 'PR', 'FR', 'HS', 'DY'), reset to -g whenever it is
    not a descent direction; then a step t along d. With ``line_search_fn='strong_wolfe'``
    (c2 = 0.1, as Nocedal & Wright advise for CG) the first trial step is
    ``min(1, 1/|g|_1) lr`` on the first iteration and ``t_prev gtd_prev / gtd`` after (N&W
    eq. 3.60); with None the step is ``lr``. Stopping tests and return value as LBFGS.

    >>> opt = gc.optim.ConjugateGradient(model.parameters())
    >>> opt.step(closure)
    """

    _c2 = 0.1  # strong-Wolfe curvature constant (Nocedal & Wright's advice for CG)

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, beta="PR+", line_search_fn="strong_wolfe"):
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        beta=beta, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def _validate(self, g):
        super()._validate(g)
        _check(g["beta"] in _BETAS, f"Invalid beta: {g['beta']!r} (one of {', '.join(_BETAS)})")

    def _direction(self, state, loss, flat_grad):
        """d = -g + beta d (reset to -g when that is no descent direction) and the first trial
        step t, into ``state``; returns g.d, or None when d is not a descent direction."""
        group = self.param_groups[0]
        lr = float(group["lr"])
        d, t, prev_gtd = state.get("d"), state.get("t"), state.get("prev_gtd")
        if d is None:
            d = state["d"] = V.scaled(flat_grad, -1.0)
        else:
            beta = _beta(group["beta"], flat_grad, state["prev_flat_grad"], d)
            V.axpby_(d, -1.0, flat_grad, beta)
            if V.dot(flat_grad, d) >= 0:  # lost descent: restart along -g
                V.axpby_(d, -1.0, flat_grad, 0.0)
        gtd = V.dot(flat_grad, d)
        if gtd > -group["tolerance_change"]:
            return None

        if group["line_search_fn"] is None:
            t = lr
        elif prev_gtd is None or not t or not math.isfinite(t * prev_gtd / gtd):
            t = min(1.0, 1.0 / V.asum(flat_grad)) * lr
        else:
            t = t * prev_gtd / gtd  # N&W eq. 3.60
        state.update(t=t, prev_flat_grad=V.copy_(state.get("prev_flat_grad"), flat_grad),
                     prev_loss=loss, prev_gtd=gtd)
        return gtd
