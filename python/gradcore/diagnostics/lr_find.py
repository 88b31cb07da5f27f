"""Learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks";
the exponential sweep and smoothed-loss stopping rule popularised by fastai).

The lr grows geometrically from ``start_lr`` to ``end_lr`` over ``num_iter`` training steps;
the loss is smoothed with an exponential moving average (bias-corrected); the sweep stops when
the smoothed loss exceeds ``diverge_factor`` times its best value or turns non-finite. The
suggestion is the lr of steepest descent: the minimum of d(smoothed loss)/d(log lr). Model,
gradients, optimizer (state and hyperparameters), generator and loader order are restored
bit-identically afterwards.
"""
import math

import numpy as np

from ._state import Snapshot

__all__ = ["LRFinderResult", "lr_find"]


class LRFinderResult:
    """``lrs``, ``losses`` (smoothed), ``raw_losses``, ``suggested_lr``, ``diverged``;
    ``plot(path)`` draws the curve (``plot_lr_find``)."""

    def __init__(self, lrs, losses, raw_losses, suggested_lr, diverged):
        self.lrs, self.losses, self.raw_losses = lrs, losses, raw_losses
        self.suggested_lr, self.diverged = suggested_lr, diverged

    def plot(self, path):
        from .plots import plot_lr_find
        return plot_lr_find(self, path)

    def __repr__(self):
        return (f"LRFinderResult(suggested_lr={self.suggested_lr:.3g}, steps={len(self.lrs)}, "
                f"diverged={self.diverged})")


def lr_find(model, loss_fn, optimizer, loader, start_lr=1e-7, end_lr=10, num_iter=100,
            smooth=0.98, diverge_factor=4.0):
    """Run the range test over batches ``(*inputs, target)`` of ``loader`` (cycled) and return
    an ``LRFinderResult``; every parameter group gets the swept lr."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 2:
        raise ValueError(f"lr_find: num_iter must be >= 2, got {num_iter}")
    if not 0 <= smooth < 1:
        raise ValueError(f"lr_find: smooth must be in [0, 1), got {smooth}")
    snap = Snapshot(model, optimizer, loader)
    lrs, losses, raw = [], [], []
    diverged, avg, best = False, 0.0, math.inf
    try:
        model.train()
        it = iter(loader)
        for i in range(num_iter):
            lr = start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))
            for g in optimizer.param_groups:
                g["lr"] = lr
            try:
                *inputs, target = next(it)
            except StopIteration:
                it = iter(loader)
                *inputs, target = next(it)
            optimizer.zero_grad()
            loss = loss_fn(model(*inputs), target)
            loss.backward()
            optimizer.step()
            v = float(loss.item())
            avg = smooth * avg + (1 - smooth) * v
            s = avg / (1 - smooth ** (i + 1))
            lrs.append(lr)
            raw.append(v)
            losses.append(s)
            if not math.isfinite(s) or (i > 0 and s > diverge_factor * best):
                diverged = True
                break
            best = min(best, s)
    finally:
        snap.restore()
    return LRFinderResult(lrs, losses, raw, _steepest(lrs, losses), diverged)


def _steepest(lrs, losses):
    """The lr where the smoothed loss falls fastest per decade (ends skipped, as fastai)."""
    lr, s = np.array(lrs), np.array(losses)
    ok = np.isfinite(s)
    lr, s = lr[ok], s[ok]
    if len(s) < 3:
        return float(lr[0]) if len(lr) else float("nan")
    lo, hi = (10, len(s) - 5) if len(s) > 20 else (0, len(s))
    d = np.gradient(s, np.log10(lr))[lo:hi]
    return float(lr[lo + int(np.argmin(d))])
