"""``plot_attribution``: inputs and their attribution heat maps side by side in one PNG."""
import math

import numpy as np

from ..diagnostics.plots import _figure
from ..tensor import Tensor

__all__ = ["plot_attribution"]


def plot_attribution(x, attributions, path, titles=None, cmap=None, max_samples=8):
    """One column per sample (at most ``max_samples``): the input on top, the attribution
    heat map over a faded copy of the input below. ``x``: (N, C, H, W), (N, H, W) or flat
    (N, D) with D a square (digits: 64 -> 8x8); ``attributions``: x's shape (channels summed)
    or (N, H, W) (``grad_cam``). Each map is normalised for display on its own: signed maps
    symmetric around 0 (``cmap`` default 'RdBu_r'), non-negative ones from 0 ('inferno').
    Returns ``path``."""
    xs, at = _as_array(x), _as_array(attributions)
    if len(xs) != len(at):
        raise ValueError(f"plot_attribution: x has {len(xs)} samples, attributions "
                         f"{len(at)}")
    n = min(len(xs), int(max_samples))
    if titles is not None and len(titles) < n:
        raise ValueError(f"plot_attribution: {len(titles)} titles for {n} samples")
    fig = _figure((2.4 * n + 0.6, 4.8))
    axes = np.asarray(fig.subplots(2, n, squeeze=False))
    for i in range(n):
        img = _image(xs[i], "x")
        heat = _image(at[i], "attributions", channels="sum")
        if heat.shape != img.shape[:2]:
            raise ValueError(f"plot_attribution: sample {i}: attribution map {heat.shape} "
                             f"does not match the image {img.shape[:2]}")
        signed = heat.min() < 0
        m = float(np.max(np.abs(heat))) or 1.0
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(img, cmap="gray" if img.ndim == 2 else None)
        bottom.imshow(img if img.ndim == 2 else img.mean(2), cmap="gray", alpha=0.35)
        im = bottom.imshow(heat, cmap=cmap or ("RdBu_r" if signed else "inferno"),
                           vmin=-m if signed else 0.0, vmax=m, alpha=0.75)
        fig.colorbar(im, ax=bottom, fraction=0.046, pad=0.04)
        top.set_title(titles[i] if titles is not None else f"sample {i}", fontsize="small")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("attribution")
    fig.savefig(path, dpi=100)
    return path


def _as_array(a):
    return (a.detach().numpy() if isinstance(a, Tensor) else np.asarray(a)).astype(np.float64)


def _image(a, what, channels="mean"):
    """A 2-D map, or an (H, W, 3) RGB image in [0, 1], from one sample."""
    if a.ndim == 1:
        s = math.isqrt(a.size)
        return a.reshape(s, s) if s * s == a.size else a.reshape(1, -1)
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        if a.shape[0] == 3 and channels == "mean":    # RGB, scaled to [0, 1] for display
            lo, hi = a.min(), a.max()
            return np.moveaxis((a - lo) / (hi - lo if hi > lo else 1.0), 0, 2)
        return a.sum(0) if channels == "sum" else a.mean(0)
    raise ValueError(f"plot_attribution: {what} per sample must be (D,), (H, W) or (C, H, W), "
                     f"got {a.shape}")
