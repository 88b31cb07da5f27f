"""Gradient noise scale (McCandlish et al. 2018, "An Empirical Model of Large-Batch Training").

B_simple = tr(Sigma) / |G|^2, with G the true gradient and Sigma the per-example gradient
covariance. Appendix A's unbiased estimators from the squared norms of gradients at a small
batch size b and a big one B (E|G_b|^2 = |G|^2 + tr(Sigma)/b):
    |G|^2    ~ (B |G_B|^2 - b |G_b|^2) / (B - b)
    tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)
Each estimate takes k loader batches of size b at the same parameters: |G_b|^2 is the mean of
their squared gradient norms, G_B (B = k b) their mean gradient. B_simple is the ratio of the
means of both estimators over the estimates (the ratio of noisy means, as the paper averages
before dividing); the confidence interval is a bootstrap over the estimates. The critical batch
size B_crit ~ B_noise ~ B_simple (the paper's approximation for a well-conditioned Hessian).
"""
from typing import NamedTuple

import numpy as np

from .. import dispatch as D
from ..dispatch import K
from ..dtypes import CODE, float64
from ._state import Snapshot

__all__ = ["NoiseScale", "gradient_noise_scale"]


class NoiseScale(NamedTuple):
    b_simple: float            # tr(Sigma) / |G|^2
    ci_low: float              # bootstrap confidence interval of b_simple
    ci_high: float
    critical_batch_size: float  # ~ b_simple
    grad_sq: float             # |G|^2 estimate
    trace_sigma: float         # tr(Sigma) estimate
    small_batch: int
    big_batch: int
    num_estimates: int


def gradient_noise_scale(model, loss_fn, loader, num_estimates=20, batches_per_estimate=8,
                         confidence=0.95, seed=0):
    """Estimate B_simple from ``num_estimates`` groups of ``batches_per_estimate`` batches of
    ``loader`` (cycled; batches ``(*inputs, target)``, ``loss_fn`` a batch mean; batches of
    another size than the first are skipped). Parameters, gradients, the generator and a
    DataLoader's shuffling state are left as they were. Returns a ``NoiseScale``."""
    if num_estimates < 2 or batches_per_estimate < 2:
        raise ValueError("gradient_noise_scale: num_estimates and batches_per_estimate must be "
                         f">= 2, got {num_estimates}, {batches_per_estimate}")
    params = [p for p in model.parameters() if p.requires_grad]
    snap = Snapshot(model, loader=loader)
    try:
        small, big, b = _norms(model, loss_fn, loader, params, num_estimates,
                               batches_per_estimate)
    finally:
        snap.restore()
    B = b * batches_per_estimate
    g2 = (B * big - b * small) / (B - b)
    s = (small - big) / (1.0 / b - 1.0 / B)
    est = s.mean() / g2.mean()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(s), size=(2000, len(s)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = s[idx].mean(1) / g2[idx].mean(1)
    a = (1 - confidence) / 2
    lo, hi = np.nanquantile(boot, [a, 1 - a])
    return NoiseScale(float(est), float(lo), float(hi), float(est), float(g2.mean()),
                      float(s.mean()), int(b), int(B), int(num_estimates))


def _norms(model, loss_fn, loader, params, n_est, k):
    """Per estimate: mean squared small-batch gradient norm and squared norm of the mean."""
    out = D.empty((len(params), 5), CODE[float64])
    small, big, size, it = np.zeros(n_est), np.zeros(n_est), None, iter(loader)
    for e in range(n_est):
        acc, i = None, 0
        while i < k:
            try:
                *inputs, target = next(it)
            except StopIteration:
                it = iter(loader)
                continue
            if size is None:
                size = len(target)
            if len(target) != size:
                continue
            for p in params:
                p.grad = None
            loss_fn(model(*inputs), target).backward()
            grads = [p.grad._data for p in params]
            D.run(K.grad_stats, out, *grads, mode=0)
            small[e] += out[:, 0].sum() / k
            if acc is None:
                acc = [D.run(K.expand, g, g.shape) for g in grads]
            else:
                for g, a in zip(grads, acc):
                    D.run(K.accumulate, g, a)
            i += 1
        D.run(K.grad_stats, out, *acc, mode=0)
        big[e] = out[:, 0].sum() / (k * k)
    return small, big, size
