"""Nonlinear conjugate gradient (Polak-Ribiere+ by default) with a strong-Wolfe line search,
on the same flat-vector machinery as LBFGS."""
import math

from ..autograd import no_grad
from . import _vec as V
from .lbfgs import _FlatOptimizer
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

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, beta="PR+", line_search_fn="strong_wolfe"):
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        beta=beta, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def _validate(self, g):
        super()._validate(g)
        _check(g["beta"] in _BETAS, f"Invalid beta: {g['beta']!r} (one of {', '.join(_BETAS)})")

    @no_grad()
    def step(self, closure):
        """Run up to ``max_iter`` iterations; ``closure`` re-evaluates and back-propagates the
        loss and returns it. Returns the loss of the first evaluation."""
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss, flat_grad = self._evaluate(closure)
        current_evals = 1
        state["func_evals"] += 1
        if V.amax_abs(flat_grad) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        prev_gtd = state.get("prev_gtd")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- direction ----
            if d is None:
                d = V.scaled(flat_grad, -1.0)
            else:
                beta = _beta(group["beta"], flat_grad, prev_flat_grad, d)
                V.axpby_(d, -1.0, flat_grad, beta)
                if V.dot(flat_grad, d) >= 0:  # lost descent: restart along -g
                    V.axpby_(d, -1.0, flat_grad, 0.0)
            gtd = V.dot(flat_grad, d)
            if gtd > -tol_change:
                break

            # ---- step length ----
            if group["line_search_fn"] is None:
                t = lr
            elif prev_gtd is None or not t or not math.isfinite(t * prev_gtd / gtd):
                t = min(1.0, 1.0 / V.asum(flat_grad)) * lr
            else:
                t = t * prev_gtd / gtd

            if prev_flat_grad is None:
                prev_flat_grad = V.scaled(flat_grad, 1.0)
            else:
                V.axpby_(prev_flat_grad, 1.0, flat_grad, 0.0)
            prev_loss, prev_gtd = loss, gtd

            ls_func_evals = 0
            if group["line_search_fn"] is not None:
                loss, flat_grad, t, ls_func_evals = self._line_search(
                    closure, t, d, loss, flat_grad, gtd, max_eval - current_evals, c2=0.1)
                V.add_to_params_(self._params, t, d)
                opt_cond = V.amax_abs(flat_grad) <= tol_grad
            else:
                V.add_to_params_(self._params, t, d)
                opt_cond = False
                if n_iter != max_iter:
                    _, loss, flat_grad = self._evaluate(closure)
                    opt_cond = V.amax_abs(flat_grad) <= tol_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping tests ----
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if V.amax_abs(d) * abs(t) <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break

        state.update(d=d, t=t, prev_flat_grad=prev_flat_grad, prev_loss=prev_loss,
                     prev_gtd=prev_gtd)
        return orig_loss
