"""12. Curvature: the largest and smallest Hessian eigenvalues of the reference model's loss
(gc.diagnostics.hessian_eigenvalues: Lanczos on Hessian-vector products) at checkpoints from
initialisation to the end of training."""
import warnings

from ._base import (BASELINE, Section, Table, baseline, ce, figure, fmt, full_loss, gc,
                    mlp, np, png)

TITLE = "Curvature"
WHAT = ("The sharpest and the most negative curvature of the training loss (the extreme "
        "Hessian eigenvalues) early and late in training.")
N_BATCH = 512


def _draw(ep, top, bot):
    """|top| and |bottom| eigenvalue per checkpoint (log), and their ratio."""
    fig = figure(11, 3.8)
    a, c = fig.subplots(1, 2)
    a.semilogy(ep, np.abs(top), "o-", label="top eigenvalue" + (" (< 0)" if (top < 0).any()
                                                                 else ""))
    a.semilogy(ep, np.abs(bot), "s-", color="tab:red",
               label="|bottom eigenvalue|" + (" (negative)" if (bot < 0).all() else
                                              " (sign in the table)"))
    a.set(xlabel="epoch", ylabel="|eigenvalue| (log)", title="extreme Hessian eigenvalues")
    a.legend(fontsize="small")
    c.plot(ep, bot / top, "o-", color="tab:purple")
    c.axhline(0, color="k", lw=0.8)
    c.set(xlabel="epoch", ylabel="bottom / top",
          title="negative curvature relative to the sharpest direction")
    for ax in (a, c):
        ax.set_xticks(ep)
        ax.grid(alpha=0.3)
    return png(fig)


def build(ctx):
    b = baseline(ctx)
    states = b["states"]
    last = max(states)
    picks = sorted({0, 1, 2, 5, last} if not ctx.quick else {0, 1, last})
    picks = [e for e in picks if e in states]
    batch = (gc.tensor(ctx.X[:N_BATCH]), gc.tensor(ctx.y[:N_BATCH]))
    model = mlp([64, 128, 64, 10])
    res = {}
    for e in picks:
        model.load_state_dict(states[e])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ev = gc.diagnostics.hessian_eigenvalues(model, ce, batch, k=1, which="both",
                                                    iters=ctx.epochs(100, 40), seed=ctx.seed)
        res[e] = dict(top=float(ev.top[0]), bottom=float(ev.bottom[0]),
                      loss=full_loss(model, ctx.X[:N_BATCH], ctx.y[:N_BATCH]),
                      converged=not any("budget" in str(x.message) or "converge" in
                                        str(x.message) for x in w))
    rows = [[str(e), fmt(r["loss"]), fmt(r["top"]), fmt(r["bottom"]),
             fmt(r["bottom"] / r["top"] if r["top"] else None, 3),
             "yes" if r["converged"] else "no (budget reached)"] for e, r in res.items()]
    t = Table(["epoch", "loss on the batch", "top eigenvalue", "bottom eigenvalue",
               "bottom / top", "Lanczos converged"], rows,
              f"{BASELINE}; Hessian of the mean cross-entropy on {N_BATCH} training digits "
              "(float64), epoch 0 = initialisation")
    ep = np.array(list(res))
    top = np.array([r["top"] for r in res.values()])
    bot = np.array([r["bottom"] for r in res.values()])
    image = _draw(ep, top, bot)
    early, late = res[picks[0]], res[picks[-1]]
    peak = max(res, key=lambda e: res[e]["top"])
    neg = [e for e, r in res.items() if r["bottom"] < 0]
    rough = [e for e, r in res.items() if not r["converged"]]
    reading = (f"The top eigenvalue went from {fmt(early['top'], 3)} at initialisation to "
               f"{fmt(late['top'], 3)} at epoch {picks[-1]} (peak {fmt(res[peak]['top'], 3)} at "
               f"epoch {peak}); the bottom eigenvalue went from {fmt(early['bottom'], 3)} to "
               f"{fmt(late['bottom'], 3)}"
               + (f", negative (a saddle direction) at epochs {', '.join(map(str, neg))}"
                  if neg else ", never negative")
               + (f"; at epoch(s) {', '.join(map(str, rough))} Lanczos stopped at its iteration "
                  "budget, so those values are estimates" if rough else "") + ".")
    return Section(TITLE, WHAT, [t], [(image, "Hessian eigenvalues during training")],
                   reading)
