"""10. The loss landscape around the reference model's trained minimum (a plane through the
weights along two filter-normalised random directions, Li et al. 2018) and the loss along the
straight line from the initial to the trained weights (Goodfellow et al. 2015)."""
from ._base import (BASELINE, Section, Table, baseline, ce, figure, fmt, gc, mlp, np,
                    png)

TITLE = "Loss landscape"
WHAT = ("The training loss on a plane through the trained weights, and on the straight path "
        "from the initial weights to the trained ones.")


def build(ctx):
    b = baseline(ctx)
    model = b["model"]
    batch = (gc.tensor(ctx.X), gc.tensor(ctx.y))
    steps = ctx.epochs(31, 11)
    land = gc.diagnostics.loss_landscape(model, ce, batch, steps=steps, span=1.0,
                                         directions="filter", dims=2, seed=ctx.seed)
    start = mlp([64, 128, 64, 10])
    start.load_state_dict(b["states"][0])
    alphas, path = gc.diagnostics.interpolate(start, model, ce, batch, steps=ctx.epochs(41, 21))
    alphas, path = np.asarray(alphas, float), np.asarray(path, float)
    z = np.asarray(land.losses, float)
    i, j = np.unravel_index(np.nanargmin(z), z.shape)
    t1 = Table(["quantity", "value"], [
        ["loss at the trained weights (centre)", fmt(land.center_loss)],
        ["lowest loss on the plane", fmt(z[i, j])],
        ["... at (alpha, beta)", f"({fmt(land.alphas[i], 3)}, {fmt(land.betas[j], 3)})"],
        ["highest loss on the plane", fmt(np.nanmax(z))],
        ["share of the plane below 2x the centre loss",
         f"{100 * np.mean(z <= 2 * land.center_loss):.1f}%"],
    ], f"{BASELINE}; {steps}x{steps} grid over alpha, beta in [-1, 1] (filter-normalised "
       "directions), loss on the 1438 training digits")
    rise = np.maximum(np.diff(path), 0).max()
    picks = np.unique(np.round(np.linspace(0, len(alphas) - 1, 6)).astype(int))
    t2 = Table(["alpha (0 = init, 1 = trained)", "training loss"],
               [[fmt(alphas[k], 3), fmt(path[k])] for k in picks],
               "loss along (1 - alpha) * initial + alpha * trained weights")
    fig = figure(12, 4.2)
    fig.get_layout_engine().set(wspace=0.12)   # the colour bar's label and the next axis
    a, c = fig.subplots(1, 2)
    A, B = np.meshgrid(land.alphas, land.betas, indexing="ij")
    levels = np.geomspace(max(np.nanmin(z), 1e-6), np.nanmax(z), 25)
    cs = a.contourf(A, B, z, levels=levels, cmap="viridis", norm=_lognorm(levels))
    a.contour(A, B, z, levels=levels[::2], colors="k", linewidths=0.4)
    fig.colorbar(cs, ax=a, label="loss (log levels)", format="%.2g")
    a.plot([0], [0], "r*", ms=12, label=f"trained weights ({land.center_loss:.3g})")
    a.set(xlabel="alpha (direction 1)", ylabel="beta (direction 2)", aspect="equal",
          title="loss around the trained minimum")
    a.legend(loc="upper right", fontsize="small")
    c.semilogy(alphas, path, ".-")
    c.set(xlabel="alpha (0 = initial weights, 1 = trained)", ylabel="training loss (log)",
          title="straight path from init to trained")
    at_min = (i, j) == ((len(land.alphas) - 1) // 2, (len(land.betas) - 1) // 2)
    reading = (("The trained weights are the lowest point of the plane"
                if at_min else
                f"A point of the plane at ({land.alphas[i]:.2g}, {land.betas[j]:.2g}) is lower "
                f"({fmt(z[i, j])}) than the trained weights ({fmt(land.center_loss)})")
               + f"; {100 * np.mean(z <= 2 * land.center_loss):.1f}% of the plane is within 2x "
               "the minimum's loss; along the straight path from init the loss "
               + ("falls monotonically" if rise <= 0 else
                  f"rises by at most {fmt(rise, 3)} between neighbouring points")
               + f" ({fmt(path[0])} -> {fmt(path[-1])}).")
    return Section(TITLE, WHAT, [t1, t2], [(png(fig), "loss landscape and interpolation")],
                   reading)


def _lognorm(levels):
    from matplotlib.colors import LogNorm
    return LogNorm(vmin=levels[0], vmax=levels[-1])
