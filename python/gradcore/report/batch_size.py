"""7. Batch sizes from 16 to the full training set: time per epoch, steps to a target training
loss, val accuracy after the same number of epochs, and the gradient noise scale's critical
batch size (gc.diagnostics.gradient_noise_scale, McCandlish et al. 2018)."""
import time

from ._base import (Section, Table, accuracy, argbest, ce, figure, fmt, full_loss, gc, mlp,
                    np, optim, plain_ticks, png, snapshot)

TITLE = "Batch sizes"
TARGET = 0.2
LR = 2e-3


def _train(ctx, bs, epochs, cap):
    """Adam at a fixed lr; the full training loss after every step (outside the timing); runs
    at least ``epochs`` epochs and on (up to ``cap`` steps) until the target loss is reached."""
    ctx.seed_all(700)
    model = mlp([64, 64, 10])
    opt = optim.Adam(model.parameters(), lr=LR)
    loader = ctx.loader(ctx.X, ctx.y, bs)
    curve, times, hit, at_hit, val, ep = [full_loss(model, ctx.X, ctx.y)], [], None, None, \
        None, 0
    while ep < epochs or (hit is None and len(curve) <= cap):
        spent = 0.0
        for xb, yb in loader:
            t = time.perf_counter()
            opt.zero_grad()
            ce(model(xb), yb).backward()
            opt.step()
            spent += time.perf_counter() - t
            curve.append(full_loss(model, ctx.X, ctx.y))
            if hit is None and curve[-1] <= TARGET:
                hit, at_hit = len(curve) - 1, snapshot(model)
        times.append(spent)
        ep += 1
        if ep == epochs:
            val = accuracy(model, ctx.Xv, ctx.yv)
    # the median epoch: robust to another process taking the core for a moment
    return dict(curve=curve, epoch_time=float(np.median(times)), hit=hit, val=val, model=model,
                at_hit=at_hit, steps_per_epoch=len(loader))


def _noise(ctx, model, state):
    model.load_state_dict(state)
    return gc.diagnostics.gradient_noise_scale(
        model, ce, ctx.loader(ctx.X, ctx.y, 32), num_estimates=ctx.epochs(20, 8),
        batches_per_estimate=8, seed=ctx.seed)


def _name(bs, n):
    return f"the full batch of {bs}" if bs == n else f"batch {bs}"


def _draw(res, n, sizes, crit):
    """Loss per step, steps to the target against the critical batch, time per epoch."""
    fig = figure(13, 3.8)
    a, b, c = fig.subplots(1, 3)
    for bs, r in res.items():
        a.loglog(np.arange(1, len(r["curve"])), r["curve"][1:], lw=1.2,
                 label=("full " if bs == n else "") + str(bs))
    a.axhline(TARGET, color="k", ls=":", lw=1)
    a.set(xlabel="step", ylabel="full training loss", title="loss per optimizer step")
    a.legend(fontsize="x-small", title="batch", title_fontsize="x-small")
    hit = [(bs, r["hit"]) for bs, r in res.items() if r["hit"] is not None]
    if hit:
        b.loglog(*zip(*hit), "o-")
    b.axvspan(max(crit.ci_low, 1), max(crit.ci_high, 1), color="tab:orange", alpha=0.15)
    b.axvline(crit.b_simple, color="tab:orange", ls="--",
              label=f"critical batch B_simple {crit.b_simple:.3g}")
    b.set(xlabel="batch size", ylabel=f"steps to loss {TARGET}", title="steps to the target")
    b.legend(fontsize="small")
    c.loglog(sizes, [1e3 * r["epoch_time"] for r in res.values()], "o-", color="tab:green")
    c.set(xlabel="batch size", ylabel="ms per epoch (training steps only)",
          title="time per epoch")
    from matplotlib.ticker import LogLocator, NullLocator
    for ax in (b, c):
        plain_ticks(ax)
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 1.5, 2, 3, 5, 7)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sizes, [str(s) for s in sizes], fontsize="small")
        ax.xaxis.set_minor_locator(NullLocator())
    return png(fig)


def build(ctx):
    n = len(ctx.y)
    sizes = [16, 64, 256, n] if ctx.quick else [16, 32, 64, 128, 256, 512, n]
    epochs, cap = ctx.epochs(10, 3), ctx.epochs(400, 150)
    res = {bs: _train(ctx, bs, epochs, cap) for bs in sizes}
    ref = res[64]
    ctx.seed_all(700)
    init = snapshot(mlp([64, 64, 10]))
    ns0 = _noise(ctx, ref["model"], init)
    ns = _noise(ctx, ref["model"], ref["at_hit"]) if ref["at_hit"] is not None else None
    rows = [[("full " if bs == n else "") + str(bs), str(r["steps_per_epoch"]),
             fmt(1e3 * r["epoch_time"], 3), fmt(r["hit"]),
             fmt(None if r["hit"] is None else r["hit"] * bs / n, 3), fmt(r["val"])]
            for bs, r in res.items()]
    t1 = Table(["batch size", "steps per epoch", "ms per epoch (median)", f"steps to loss {TARGET}",
                f"epochs to loss {TARGET}", f"val accuracy after {epochs} epochs"], rows,
               f"MLP 64-64-10, Adam lr {LR:g} for every batch size; '-': the target was not "
               f"reached within max({epochs} epochs, {cap} steps)")
    noise_rows = [["at initialisation", fmt(ns0.b_simple, 3),
                   f"{fmt(ns0.ci_low, 3)} .. {fmt(ns0.ci_high, 3)}", fmt(ns0.grad_sq, 3),
                   fmt(ns0.trace_sigma, 3)]]
    if ns is not None:
        noise_rows.append([f"at loss {TARGET} (batch-64 run)", fmt(ns.b_simple, 3),
                           f"{fmt(ns.ci_low, 3)} .. {fmt(ns.ci_high, 3)}", fmt(ns.grad_sq, 3),
                           fmt(ns.trace_sigma, 3)])
    t2 = Table(["where", "B_simple = critical batch", "95% interval", "norm(G)^2", "tr(Sigma)"],
               noise_rows, f"gradient noise scale from {ns0.num_estimates} estimates of "
               f"{ns0.small_batch} vs {ns0.big_batch} samples")
    crit = ns if ns is not None else ns0
    image = _draw(res, n, sizes, crit)
    fastest = argbest({bs: r["epoch_time"] for bs, r in res.items()})
    best = argbest({bs: r["val"] for bs, r in res.items()}, max)
    fewest = argbest({bs: r["hit"] for bs, r in res.items() if r["hit"] is not None})
    reading = (f"An epoch was fastest at {_name(fastest, n)} "
               f"({1e3 * res[fastest]['epoch_time']:.3g} ms); "
               + (f"{_name(fewest, n)} needed the fewest steps to loss {TARGET} "
                  f"({res[fewest]['hit']}); " if fewest else "")
               + f"after {epochs} epochs {_name(best, n)} had the best val accuracy "
               f"({fmt(res[best]['val'])}); the measured critical batch is about "
               f"{crit.b_simple:.3g} ({fmt(crit.ci_low, 3)} .. {fmt(crit.ci_high, 3)}).")
    return Section(TITLE, "The same model trained at batch sizes from 16 to the full set: "
                   "wall time, optimizer steps and generalisation, against the critical batch "
                   "size predicted by the gradient noise scale.", [t1, t2],
                   [(image, "batch size comparison")], reading)
