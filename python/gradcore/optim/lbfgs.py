"""L-BFGS (torch.optim.LBFGS, after minFunc), on the flat-vector machinery and strong-Wolfe
line search of _linesearch.py (shared with ConjugateGradient)."""
from . import _vec as V
from ._linesearch import _cubic_interpolate, _FlatOptimizer  # noqa: F401 (tests import it here)
from .optimizer import _check


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

    _c2 = 0.9  # strong-Wolfe curvature constant

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def _validate(self, g):
        super()._validate(g)
        _check(int(g["history_size"]) >= 1, f"Invalid history_size value: {g['history_size']}")

    def _direction(self, state, loss, flat_grad):
        """d = -H g (two-loop recursion over the kept pairs) and the step length t, into
        ``state``; returns g.d, or None when d is not a descent direction."""
        group = self.param_groups[0]
        lr, history_size = float(group["lr"]), group["history_size"]
        if state["n_iter"] == 1:
            d = V.scaled(flat_grad, -1.0)
            old_dirs, old_stps, ro, H_diag = [], [], [], 1.0
        else:
            d, t, H_diag = state["d"], state["t"], state["H_diag"]
            old_dirs, old_stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
            y = V.axpby_(V.scaled(flat_grad, 1.0), -1.0, state["prev_flat_grad"])  # g - g_prev
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

        # step length: min(1, 1/|g|_1) lr on the very first iteration, else lr
        t = min(1.0, 1.0 / V.asum(flat_grad)) * lr if state["n_iter"] == 1 else lr
        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=V.copy_(state.get("prev_flat_grad"), flat_grad),
                     prev_loss=loss)
        gtd = V.dot(flat_grad, d)
        return None if gtd > -group["tolerance_change"] else gtd
