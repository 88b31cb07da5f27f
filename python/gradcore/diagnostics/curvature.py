"""Curvature of the loss: Hessian-vector products and the extreme Hessian eigenvalues.

The engine has no double backward, so a Hessian-vector product is a float64 central difference
of gradients along v:

    H v ≈ (g(θ + h·v) - g(θ - h·v)) / (2h),    h = cbrt(eps) · max(1, ‖θ‖) / ‖v‖

with eps = 2.2e-16 (float64), computed on a float64 deep copy of the model in eval mode (the
model itself is never touched). The error has two parts: truncation, h²/6 · ‖∇³L[v, v, v]‖
(relative to ‖Hv‖ about (h‖v‖)² times the third-to-second derivative ratio), and rounding,
about eps · ‖g‖ / (h‖v‖). Balancing them gives the step ∝ cbrt(eps); scaling it with ‖θ‖ keeps
it relative to the weights (a step of 6e-6·‖θ‖ in weight space). Measured against exact
Hessians (softmax regression and a quadratic in closed form, a tanh MLP by torch's double
backward) the relative error of Hv is 2e-11 to 7e-11, the minimum of the error curve (for the
non-quadratic cases; a quadratic has no truncation error): steps 10x
smaller or larger give about 5e-10 and 5e-9. For ReLU networks the Hessian exists almost
everywhere: a step that crosses a kink adds an error, rare at these step sizes.

``hessian_eigenvalues`` runs Lanczos with full reorthogonalisation on v -> Hv (the extremes at
both ends converge together) and stops when the residual bound |β_j s_j| of every wanted
Ritz value is below ``tol`` times the largest |Ritz value|. A negative bottom eigenvalue means
the weights sit at (or near) a saddle: the loss decreases along that eigenvector.
"""
import copy
import warnings
from typing import NamedTuple

import numpy as np

from ..autograd import enable_grad, grad
from ..dtypes import float64
from ._state import as_input, per_parameter, split_batch

__all__ = ["hessian_vector_product", "hessian_eigenvalues", "Eigenvalues"]

_STEP = float(np.cbrt(np.finfo(np.float64).eps))   # 6.06e-6


class Eigenvalues(NamedTuple):
    """``which='both'``: ``top`` (descending) and ``bottom`` (ascending), a tuple."""
    top: np.ndarray
    bottom: np.ndarray


class _Objective:
    """The loss of a float64 copy of the model on one batch, as a function of a flat θ."""

    def __init__(self, model, loss_fn, batch, fname):
        inputs, target = split_batch(batch, fname)
        self.model = copy.deepcopy(model).double().eval()
        self.params = list(self.model.parameters())
        for p in self.params:
            p.requires_grad_(True)      # a frozen parameter's curvature is still measured
        self.shapes = [p.shape for p in self.params]
        self.inputs = tuple(as_input(a, float64) for a in inputs)
        self.inputs = tuple(a.double() if a.is_floating_point() else a for a in self.inputs)
        t = as_input(target, float64)
        self.target = t.double() if t.is_floating_point() else t
        self.loss_fn, self.fname = loss_fn, fname
        self.theta = np.concatenate([p._data.reshape(-1) for p in self.params])
        self.n = self.theta.size
        self.scale = max(1.0, float(np.linalg.norm(self.theta)))

    def _set(self, flat):
        off = 0
        for p in self.params:
            np.copyto(p._data, flat[off:off + p._data.size].reshape(p._data.shape))
            off += p._data.size

    def grad(self):
        """The flat float64 gradient at the current weights of the copy."""
        with enable_grad():
            loss = self.loss_fn(self.model(*self.inputs), self.target)
            if loss.numel() != 1:
                raise ValueError(f"{self.fname}: loss_fn must return a scalar, got shape "
                                 f"{tuple(loss.shape)}")
            gs = grad(loss, self.params, allow_unused=True)
        return np.concatenate([np.zeros(p._data.size) if g is None else g._data.reshape(-1)
                               for g, p in zip(gs, self.params)])

    def hvp(self, v):
        nv = float(np.linalg.norm(v))
        if nv == 0.0:
            return np.zeros(self.n)
        h = _STEP * self.scale / nv
        try:
            self._set(self.theta + h * v)
            gp = self.grad()
            self._set(self.theta - h * v)
            gm = self.grad()
        finally:
            self._set(self.theta)
        return (gp - gm) / (2.0 * h)


def hessian_vector_product(model, loss_fn, batch, vector):
    """H·v for the Hessian H of ``loss_fn(model(x), y)`` on ``batch = (x, y)`` with respect
    to ``model.parameters()`` (in order). ``vector``: a flat array over the parameters, or a
    list of arrays per parameter; the result has the same form, float64. A float64 central
    difference of gradients on a copy of the model in eval mode (see the module docstring for
    the step and its error); the model is not modified."""
    obj = _Objective(model, loss_fn, batch, "hessian_vector_product")
    parts, flat = per_parameter(vector, obj.shapes, "hessian_vector_product")
    hv = obj.hvp(np.concatenate([p.reshape(-1) for p in parts]))
    return hv if flat else per_parameter(hv, obj.shapes, "hessian_vector_product")[0]


def hessian_eigenvalues(model, loss_fn, batch, k=1, which="top", iters=None, tol=1e-4, seed=0):
    """The ``k`` largest (``which='top'``, descending) or smallest (``'bottom'``, ascending)
    eigenvalues of the loss Hessian on ``batch``, or both (``'both'``: an ``Eigenvalues``
    tuple ``(top, bottom)``). Lanczos with full reorthogonalisation from a seeded random
    start, at most ``iters`` steps (default min(n, 100); memory iters · n · 8 bytes), until the
    residual bound of each wanted Ritz value (and of the next two) is below ``tol`` ·
    max |Ritz value|; a warning
    when the budget runs out first. A negative bottom eigenvalue flags a saddle: the loss
    curves down along its eigenvector. The model is not modified."""
    fname = "hessian_eigenvalues"
    if which not in ("top", "bottom", "both"):
        raise ValueError(f"{fname}: which must be 'top', 'bottom' or 'both', got {which!r}")
    obj = _Objective(model, loss_fn, batch, fname)
    if int(k) != k or not 1 <= k <= obj.n:
        raise ValueError(f"{fname}: k must be an int in [1, {obj.n}] (the parameter count), "
                         f"got {k!r}")
    if iters is not None and (int(iters) != iters or iters < 1):
        raise ValueError(f"{fname}: iters must be a positive int or None, got {iters!r}")
    if not tol > 0:
        raise ValueError(f"{fname}: tol must be > 0, got {tol!r}")
    m = min(obj.n, int(iters) if iters is not None else 100)
    theta = _lanczos(obj.hvp, obj.n, int(k), which, m, tol, seed, fname)
    top, bottom = theta[::-1][:k].copy(), theta[:k].copy()
    if which == "both":
        return Eigenvalues(top, bottom)
    return top if which == "top" else bottom


def _lanczos(op, n, k, which, m, tol, seed, fname):
    """Ritz values (ascending) of the symmetric operator ``op`` after at most ``m`` Lanczos
    steps with full reorthogonalisation."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    basis = np.empty((m, n))
    alpha, beta = [], []
    guard = k + 2       # two extra Ritz values must converge too: a close eigenvalue that the
    need = min(n, 2 * guard if which == "both" else guard)   # k-th one shadows shows up first
    for j in range(m):
        basis[j] = q
        w = op(q)
        alpha.append(float(q @ w))
        w -= alpha[-1] * q
        if j:
            w -= beta[-1] * basis[j - 1]
        for _ in range(2):        # classical Gram-Schmidt twice ("twice is enough", Kahan)
            w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        theta, s = np.linalg.eigh(t)
        scale = max(float(np.max(np.abs(theta))), np.finfo(float).tiny)
        if j + 1 >= need:
            idx = _wanted(len(theta), guard, which)
            resid = np.abs(b * s[-1, idx])
            if np.all(resid <= tol * scale) or j + 1 == n:
                return theta
        if b <= 1e-12 * scale:   # an invariant subspace: its Ritz values are exact
            return theta
        if j + 1 < m:
            beta.append(b)
            q = w / b
    warnings.warn(f"{fname}: Lanczos did not converge in {m} steps (largest residual bound "
                  f"{resid.max():.3g}, tol·scale {tol * scale:.3g}); pass a larger iters",
                  RuntimeWarning, stacklevel=3)
    return theta


def _wanted(count, k, which):
    top, bottom = list(range(count - 1, max(count - k, 0) - 1, -1)), list(range(min(k, count)))
    return {"top": top, "bottom": bottom, "both": sorted(set(top + bottom))}[which]
