"""What LBFGS and ConjugateGradient share: the strong-Wolfe line search (torch's port of
lswolfe.lua) and ``_FlatOptimizer``, one parameter group seen as one flat vector with the
common evaluate / step-along-d / stopping-test machinery. Every vector operation is a C++
kernel (see _vec.py); only dot products and norms come back as Python floats."""
import math

from ..autograd import enable_grad, no_grad
from .. import versions as _versions
from . import _vec as V
from .optimizer import Optimizer, _check


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, f1'=g1) and (x2, f2, g2), clamped to ``bounds``
    (default: the interval between x1 and x2); the midpoint when the cubic has no minimum.
        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),   d2 = sqrt(d1^2 - g1 g2)
        x  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)
    """
    xmin_bound, xmax_bound = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search for a step t along d satisfying the strong Wolfe conditions
        f(x + t d) <= f + c1 t gtd   and   |g(x + t d) . d| <= -c2 gtd
    (bracketing by cubic extrapolation, then zoom by cubic interpolation; torch's port of
    lswolfe.lua). ``obj_func(x, t, d)`` returns (loss, flat gradient) at x + t d.
    Returns (f_new, g_new, t, function evaluations)."""
    d_norm = V.amax_abs(d)
    g = V.scaled(g, 1.0)
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = V.dot(g_new, d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket_gtd = None
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: the cubic's minimiser in [t + 0.01 (t - t_prev), 10 t]
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = V.dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:  # no bracket found within the budget
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # Trap: a trial point glued to a bracket end makes no progress; after two such steps
        # (or one outside the bracket) move it 10% of the bracket inside.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = V.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo fails or no lower than the lowest point: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # old low becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class _FlatOptimizer(Optimizer):
    """Shared parts of LBFGS and ConjugateGradient: one parameter group seen as one flat
    vector, closure evaluation, the iteration loop of ``step`` and the state kept under the
    first parameter (as torch). Subclasses give ``_direction`` (the search direction d and the
    step length t) and ``_c2`` (the line search's curvature constant)."""

    _c2 = 0.9

    @no_grad()
    def step(self, closure):
        """Run up to ``max_iter`` iterations; ``closure`` re-evaluates and back-propagates the
        loss and returns it. Returns the loss of the first evaluation."""
        try:
            return self._iterate(closure)
        finally:  # parameters changed in place (see Optimizer.step)
            _versions.bump_many([p._data for p in self._params], f"{type(self).__name__}.step")

    def _iterate(self, closure):
        state, orig_loss, loss, flat_grad, converged = self._start(closure)
        if converged:
            return orig_loss
        current_evals = 1
        for n_iter in self._iterations(state):
            gtd = self._direction(state, loss, flat_grad)  # sets state["d"], state["t"]
            if gtd is None:  # not a descent direction any more
                break
            loss, flat_grad, state["t"], current_evals, stop = self._advance(
                closure, state, state["t"], state["d"], loss, state["prev_loss"], flat_grad,
                gtd, n_iter, current_evals, c2=self._c2)
            if stop:
                break
        return orig_loss

    def _direction(self, state, loss, flat_grad):
        """Set state["d"] and state["t"] (and save what the next direction needs, including
        "prev_loss"); return g.d, or None when d is not a descent direction (subclasses)."""
        raise NotImplementedError

    def __init__(self, params, defaults):
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} doesn't support per-parameter options "
                             "(parameter groups)")
        self._params = self.param_groups[0]["params"]
        if len({p.dtype for p in self._params}) != 1:
            raise TypeError(f"{type(self).__name__}: all parameters must have the same dtype, "
                            f"got {sorted({str(p.dtype) for p in self._params})}")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError(f"{type(self).__name__} doesn't support per-parameter options "
                             "(parameter groups)")
        super().add_param_group(param_group)

    def _validate(self, g):
        _check(g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(int(g["max_iter"]) >= 1, f"Invalid max_iter value: {g['max_iter']}")
        if g.get("max_eval") is None:
            g["max_eval"] = int(g["max_iter"]) * 5 // 4
        _check(int(g["max_eval"]) >= 1, f"Invalid max_eval value: {g['max_eval']}")
        _check(g["tolerance_grad"] >= 0.0, f"Invalid tolerance_grad value: {g['tolerance_grad']}")
        _check(g["tolerance_change"] >= 0.0,
               f"Invalid tolerance_change value: {g['tolerance_change']}")
        _check(g["line_search_fn"] in (None, "strong_wolfe"),
               f"Invalid line_search_fn: {g['line_search_fn']!r} (None or 'strong_wolfe')")

    def _evaluate(self, closure):
        """(closure's loss as returned, its float value, flat gradient)."""
        with enable_grad():
            out = closure()
        return out, float(out), V.gather_grads(self._params)

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are restored to x after."""
        V.add_to_params_(self._params, t, d)
        _, loss, flat_grad = self._evaluate(closure)
        V.set_params_(self._params, x)
        return loss, flat_grad

    def _line_search(self, closure, t, d, loss, flat_grad, gtd, max_ls, c2):
        x_init = V.gather_params(self._params)

        def obj_func(x, t, d):
            return self._directional_evaluate(closure, x, t, d)

        return _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd, c2=c2,
                             max_ls=max_ls)

    def _start(self, closure):
        """The first evaluation of a ``step``: (state, closure's loss as returned, its float
        value, flat gradient, converged). The counters live in the first parameter's state."""
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss, loss, flat_grad = self._evaluate(closure)
        state["func_evals"] += 1
        converged = V.amax_abs(flat_grad) <= self.param_groups[0]["tolerance_grad"]
        return state, orig_loss, loss, flat_grad, converged

    def _iterations(self, state):
        """Iteration numbers 1 .. max_iter of one ``step``; each also counts in
        ``state["n_iter"]`` (iterations over all steps)."""
        n_iter = 0
        while n_iter < self.param_groups[0]["max_iter"]:
            n_iter += 1
            state["n_iter"] += 1
            yield n_iter

    def _advance(self, closure, state, t, d, loss, prev_loss, flat_grad, gtd, n_iter,
                 current_evals, c2):
        """Move the parameters by t d, with t from a strong-Wolfe search (curvature constant
        ``c2``) when configured, else the given t followed by one re-evaluation (none after the
        last iteration, as torch); count the evaluations and apply the stopping tests:
        ``max_iter`` iterations, ``max_eval`` evaluations, max|g| <= tolerance_grad, or the step
        (max|t d|) or the loss change below tolerance_change.
        Returns (loss, flat_grad, t, current_evals, stop)."""
        group = self.param_groups[0]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        ls_func_evals = 0
        if group["line_search_fn"] is not None:
            loss, flat_grad, t, ls_func_evals = self._line_search(
                closure, t, d, loss, flat_grad, gtd, max_eval - current_evals, c2=c2)
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
        stop = (n_iter == max_iter or current_evals >= max_eval or opt_cond
                or V.amax_abs(d) * abs(t) <= tol_change or abs(loss - prev_loss) < tol_change)
        return loss, flat_grad, t, current_evals, stop
