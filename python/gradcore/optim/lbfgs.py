"""L-BFGS (torch.optim.LBFGS, after minFunc) and the strong-Wolfe line search it shares with
ConjugateGradient. The parameters are handled as one flat vector; every vector operation is a
C++ kernel (see _vec.py), only dot products and norms come back as Python floats."""
import math

from ..autograd import enable_grad, no_grad
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
    vector, closure evaluation, and the state kept under the first parameter (as torch)."""

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


class LBFGS(_FlatOptimizer):
    """Limited-memory BFGS, as torch.optim.LBFGS (one parameter group; ``step(closure)``).

    Each iteration: direction d = -H g from the two-loop recursion over the last
    ``history_size`` pairs (s = t d, y = g_new - g_old, kept when y.s > 1e-10; initial
    H = y.s / y.y), then a step t along d: fixed (``lr``; ``min(1, 1/|g|_1) lr`` on the very
    first iteration) or from a strong-Wolfe line search. Stops after ``max_iter`` iterations,
    ``max_eval`` evaluations, when max|g| <= tolerance_grad, or when the step or the loss
    change falls below tolerance_change. Returns the closure's first loss.

    >>> opt = gc.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss
    >>> opt.step(closure)
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def _validate(self, g):
        super()._validate(g)
        _check(int(g["history_size"]) >= 1, f"Invalid history_size value: {g['history_size']}")

    @no_grad()
    def step(self, closure):
        """Run up to ``max_iter`` iterations; ``closure`` re-evaluates and back-propagates the
        loss and returns it. Returns the loss of the first evaluation."""
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss, flat_grad = self._evaluate(closure)
        current_evals = 1
        state["func_evals"] += 1
        if V.amax_abs(flat_grad) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- direction ----
            if state["n_iter"] == 1:
                d = V.scaled(flat_grad, -1.0)
                old_dirs, old_stps, ro, H_diag = [], [], [], 1.0
            else:
                y = V.axpby_(V.scaled(flat_grad, 1.0), -1.0, prev_flat_grad)  # g - g_prev
                s = V.scaled(d, t)
                ys = V.dot(y, s)
                if ys > 1e-10:  # curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / V.dot(y, y)
                num_old = len(old_dirs)
                if "al" not in state or len(state["al"]) < history_size:
                    state["al"] = [None] * history_size
                al = state["al"]
                # two-loop recursion: d = -H g
                q = V.scaled(flat_grad, -1.0)
                for i in range(num_old - 1, -1, -1):
                    al[i] = V.dot(old_stps[i], q) * ro[i]
                    V.axpby_(q, -al[i], old_dirs[i])
                d = r = V.scaled(q, H_diag)
                for i in range(num_old):
                    be_i = V.dot(old_dirs[i], r) * ro[i]
                    V.axpby_(r, al[i] - be_i, old_stps[i])

            if prev_flat_grad is None:
                prev_flat_grad = V.scaled(flat_grad, 1.0)
            else:
                V.axpby_(prev_flat_grad, 1.0, flat_grad, 0.0)
            prev_loss = loss

            # ---- step length ----
            t = min(1.0, 1.0 / V.asum(flat_grad)) * lr if state["n_iter"] == 1 else lr
            gtd = V.dot(flat_grad, d)
            if gtd > -tol_change:  # not a descent direction any more
                break

            ls_func_evals = 0
            if group["line_search_fn"] is not None:
                loss, flat_grad, t, ls_func_evals = self._line_search(
                    closure, t, d, loss, flat_grad, gtd, max_eval - current_evals, c2=0.9)
                V.add_to_params_(self._params, t, d)
                opt_cond = V.amax_abs(flat_grad) <= tol_grad
            else:
                V.add_to_params_(self._params, t, d)
                opt_cond = False
                if n_iter != max_iter:  # no re-evaluation after the last iteration (as torch)
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

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
