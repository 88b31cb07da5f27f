"""PNG plots of the diagnostics (matplotlib, imported only when a plot is drawn; the Agg
canvas is used directly, so the global pyplot backend is left alone)."""
import math

import numpy as np

__all__ = ["plot_gradient_flow", "plot_lr_find", "plot_landscape", "draw_gradient_flow",
           "draw_update_ratios"]


def _figure(size):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("gc.diagnostics plots need matplotlib: pip install gradcore[plot]  "
                          "(or: pip install matplotlib)") from None
    fig = Figure(figsize=size, tight_layout=True)
    FigureCanvasAgg(fig)
    return fig


def _series(source):
    """(layer -> per-step norms, vanish_below, explode_above) from a monitor or a History."""
    mon = getattr(source, "monitor", None) if not hasattr(source, "layer_series") else source
    if mon is not None and mon.steps:
        a = mon.layer_series("norm")
        return ({n: a[:, i] for i, n in enumerate(mon.layers)}, mon.vanish_below,
                mon.explode_above)
    series = getattr(source, "layer_grad_norms_step", None)
    if series:
        return {k: np.array(v, float) for k, v in series.items()}, 1e-7, 1e3
    raise ValueError("plot_gradient_flow: no per-step layer norms (pass a GradientMonitor or "
                     "the History of a fit with monitor=True)")


def draw_gradient_flow(ax, source, max_layers=12):
    """Per-layer gradient L2 norm per step on ``ax`` (log scale) with the vanish/explode
    thresholds; more than ``max_layers`` layers are thinned evenly (first and last kept)."""
    series, lo, hi = _series(source)
    names = list(series)
    if len(names) > max_layers:
        keep = np.unique(np.linspace(0, len(names) - 1, max_layers).round().astype(int))
        names = [names[i] for i in keep]
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]   # first layers dark, last layers light
    for j, n in enumerate(names):
        v = np.asarray(series[n], float)
        steps = np.arange(len(v))
        ok = np.isfinite(v) & (v > 0)
        color = cmap(j / max(len(names) - 1, 1))
        ax.semilogy(steps[ok], v[ok], lw=1, label=n, color=color)
        bad = ~np.isfinite(v)
        if bad.any():
            ax.scatter(steps[bad], np.full(bad.sum(), hi), marker="x", color="red")
    ax.axhline(lo, color="tab:blue", ls="--", lw=1, label=f"vanishing < {lo:g}")
    ax.axhline(hi, color="tab:red", ls="--", lw=1, label=f"exploding > {hi:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient L2 norm per layer")
    ax.set_title("gradient flow")
    ax.legend(fontsize="x-small", ncol=2)


def draw_update_ratios(ax, series, max_layers=12):
    """Per-layer update-to-weight ratio |dw|/|w| on the steps where it was measured."""
    names = list(series)
    if len(names) > max_layers:
        keep = np.unique(np.linspace(0, len(names) - 1, max_layers).round().astype(int))
        names = [names[i] for i in keep]
    for n in names:
        v = np.asarray(series[n], float)
        steps = np.arange(len(v))
        ok = np.isfinite(v) & (v > 0)
        if ok.any():
            ax.semilogy(steps[ok], v[ok], marker=".", ms=3, lw=1, label=n)
    ax.set_xlabel("step")
    ax.set_ylabel("|dw| / |w|")
    ax.set_title("update-to-weight ratio per layer")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", ncol=2)


def plot_gradient_flow(source, path, max_layers=12):
    """Per-layer gradient norms over the steps of a ``GradientMonitor`` (or a ``History`` of
    ``fit(monitor=True)``), log scale, thresholds drawn. Returns ``path``."""
    fig = _figure((9, 5))
    draw_gradient_flow(fig.subplots(), source, max_layers)
    fig.savefig(path, dpi=100)
    return path


def plot_lr_find(result, path):
    """The LR range test: raw and smoothed loss against the lr (log scale), the suggestion
    marked. Returns ``path``."""
    fig = _figure((7, 4.5))
    ax = fig.subplots()
    lrs = np.asarray(result.lrs)
    ax.semilogx(lrs, result.raw_losses, color="0.75", lw=1, label="loss")
    ax.semilogx(lrs, result.losses, color="tab:blue", lw=2, label="smoothed loss")
    if math.isfinite(result.suggested_lr):
        ax.axvline(result.suggested_lr, color="tab:red", ls="--",
                   label=f"suggested lr {result.suggested_lr:.2g}")
    fin = [v for v in result.losses if math.isfinite(v)]
    if fin:
        ax.set_ylim(min(fin) - 0.05 * abs(min(fin)), max(fin[0], min(fin)) * 1.5 + 1e-12)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test" + (" (stopped: diverged)" if result.diverged else ""))
    ax.legend()
    fig.savefig(path, dpi=100)
    return path


def plot_landscape(result, path, kind="contour"):
    """A ``loss_landscape`` result as a PNG: ``kind='contour'`` (filled contours, the current
    weights marked), ``'surface'`` (3-D), ``'both'`` (side by side); a line for ``dims=1``.
    Returns ``path``."""
    if kind not in ("contour", "surface", "both"):
        raise ValueError(f"plot_landscape: kind must be 'contour', 'surface' or 'both', got "
                         f"{kind!r}")
    z = np.asarray(result.losses, float)
    title = f"loss landscape ({getattr(result, 'kind', 'filter')} directions)"
    if z.ndim == 1:
        fig = _figure((6.5, 4.5))
        ax = fig.subplots()
        ax.plot(result.alphas, z, color="tab:blue", lw=2)
        ax.plot([0], [result.center_loss], "r*", ms=12, label="current weights")
        ax.set_xlabel("alpha")
        ax.set_ylabel("loss")
        ax.set_title(title.replace("landscape", "along one direction"))
        ax.legend()
        fig.savefig(path, dpi=100)
        return path
    a, b = np.meshgrid(result.alphas, result.betas, indexing="ij")
    kinds = ("contour", "surface") if kind == "both" else (kind,)
    fig = _figure((6.5 * len(kinds), 6))
    for i, k in enumerate(kinds):
        if k == "contour":
            ax = fig.add_subplot(1, len(kinds), i + 1)
            cs = ax.contourf(a, b, z, levels=30, cmap="viridis")
            ax.contour(a, b, z, levels=15, colors="k", linewidths=0.4)
            fig.colorbar(cs, ax=ax, label="loss")
            ax.plot([0], [0], "r*", ms=14, label=f"current weights (loss {result.center_loss:.3g})")
            ax.set_aspect("equal")
            ax.legend(loc="upper right", fontsize="small")
        else:
            ax = fig.add_subplot(1, len(kinds), i + 1, projection="3d")
            ax.plot_surface(a, b, z, cmap="viridis", linewidth=0, antialiased=True)
            ax.scatter([0], [0], [result.center_loss], color="red", s=40)
            ax.set_zlabel("loss")
        ax.set_xlabel("alpha (direction 1)")
        ax.set_ylabel("beta (direction 2)")
        ax.set_title(title + (" - surface" if k == "surface" else ""))
    fig.savefig(path, dpi=100)
    return path
