"""4. Learning rates: SGD at a too-high lr, at lr_find's suggestion and at a too-low lr; then the
lr gc.diagnostics.lr_find suggests (Adam) for four kinds of network, and what training at it
reaches."""
import math

from ._base import (RowLSTM, Section, Table, argbest, bce_logits, ce, conv_autoencoder, figure,
                    fit, fmt, mlp, np, optim, png, small_cnn)

TITLE = "Learning rates"


def _sweep(ctx, model, loss_fn, opt, loader):
    from gradcore.diagnostics import lr_find
    return lr_find(model, loss_fn, opt, loader, start_lr=1e-5, end_lr=10,
                   num_iter=ctx.epochs(100, 60))


def _three(ctx):
    """SGD on an MLP at too high / suggested / too low."""
    ctx.seed_all(300)
    model = mlp([64, 64, 10])
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    found = _sweep(ctx, model, ce, optim.SGD(model.parameters(), lr=0.1),
                   ctx.loader(ctx.X, ctx.y))
    s = found.suggested_lr
    # too high: where the range test's smoothed loss blew up (4x its best), or its last lr
    lrs = {"too high": found.lrs[-1], "suggested": s, "too low": s / 100}
    epochs, runs = ctx.epochs(15, 4), {}
    for label, lr in lrs.items():
        model.load_state_dict(init)
        h = fit(model, optim.SGD(model.parameters(), lr=lr), ctx.loader(ctx.X, ctx.y), epochs,
                ctx.val_loader())
        runs[label] = h
    return found, lrs, runs


def _outcome(h, ref=None):
    """A label from the losses: diverged / rose / barely moved / slow (vs ``ref``) / trained."""
    if not all(math.isfinite(v) for v in h.loss):
        return "diverged (non-finite loss)"
    if h.loss[-1] > 0.9 * h.loss[0]:
        return "barely moved" if h.loss[-1] <= h.loss[0] * 1.5 else "loss rose"
    if ref is not None and h.loss[-1] > 10 * ref.loss[-1]:
        return f"slow ({h.loss[-1] / ref.loss[-1]:.3g}x the suggested lr's loss)"
    return "trained"


KINDS = {   # name -> (model factory, images?, generative?)
    "feedforward (MLP 64-64-10)": (lambda: mlp([64, 64, 10]), False, False),
    "convolutional (2 conv + dense)": (small_cnn, True, False),
    "recurrent (LSTM over rows)": (RowLSTM, False, False),
    "generative (conv autoencoder)": (conv_autoencoder, True, True),
}


def _kinds(ctx):
    out = {}
    epochs = ctx.epochs(10, 2)
    for i, (name, (make, images, gen)) in enumerate(KINDS.items()):
        ctx.seed_all(310 + i)
        model = make()
        if gen:   # reconstruct the raw [0, 1] pixels
            X, Xv = ctx.images(ctx.raw_train), ctx.images(ctx.raw_val)
            tr, va, loss_fn, metrics = ctx.loader(X, X), ctx.val_loader(Xv, Xv), bce_logits, ()
        else:
            X, Xv = (ctx.images(ctx.X), ctx.images(ctx.Xv)) if images else (ctx.X, ctx.Xv)
            tr, va, loss_fn, metrics = (ctx.loader(X, ctx.y), ctx.val_loader(Xv, ctx.yv), ce,
                                        ("accuracy",))
        found = _sweep(ctx, model, loss_fn, optim.Adam(model.parameters()), tr)
        lr = found.suggested_lr
        h = fit(model, optim.Adam(model.parameters(), lr=lr), tr, epochs, va, loss_fn=loss_fn,
                metrics=metrics)
        out[name] = dict(found=found, lr=lr, gen=gen, val_loss=h.val_loss[-1],
                         val_acc=None if gen else h.val_accuracy[-1], epochs=epochs)
    return out


def _draw_sweep(ax, found, marks=None, title=""):
    lrs = np.asarray(found.lrs)
    ax.semilogx(lrs, found.raw_losses, color="0.75", lw=1, label="loss per step")
    ax.semilogx(lrs, found.losses, color="tab:blue", lw=2, label="smoothed")
    fin = [v for v in found.losses if math.isfinite(v)]
    low = min(fin + [v for v in found.raw_losses if math.isfinite(v)])
    ax.set_ylim(low * 0.9, max(fin[0], min(fin)) * 1.4)
    for (label, lr), c in zip((marks or {"suggested": found.suggested_lr}).items(),
                              ("tab:red", "tab:green", "tab:purple")):
        ax.axvline(lr, color=c, ls="--", lw=1.2, label=f"{label} {lr:.2g}")
    ax.set(xlabel="learning rate", ylabel="training loss", title=title)
    ax.legend(fontsize="x-small")


def build(ctx):
    found, lrs, runs = _three(ctx)
    t1 = Table(["setting", "lr", "final train loss", "val accuracy", "outcome"],
               [[k, fmt(lrs[k], 3), fmt(h.loss[-1]), fmt(h.val_accuracy[-1]),
                 _outcome(h, runs["suggested"] if k != "suggested" else None)]
                for k, h in runs.items()],
               f"plain SGD, MLP 64-64-10, batch 64, {runs['suggested'].epochs} epochs; "
               "too high = the lr where the range test stopped, too low = suggestion / 100")
    kinds = _kinds(ctx)
    t2 = Table(["network", "suggested lr (Adam)", "range test steps", "val accuracy",
                "val loss"],
               [[n, fmt(k["lr"], 3), str(len(k["found"].lrs)), fmt(k["val_acc"]),
                 fmt(k["val_loss"])] for n, k in kinds.items()],
               f"each trained {next(iter(kinds.values()))['epochs']} epochs at its suggested "
               "lr; the autoencoder's val loss is the per-pixel binary cross-entropy of its "
               "reconstructions")
    fig = figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    _draw_sweep(a, found, lrs, "SGD range test (MLP)")
    top = 3 * max(h.loss[0] for h in runs.values() if math.isfinite(h.loss[0]) and
                  h.loss[0] < 1e3)
    for k, h in runs.items():
        ep = np.arange(1, h.epochs + 1)
        v = np.array(h.loss, float)
        bad = ~np.isfinite(v) | (v > top)
        line, = b.plot(ep[~bad], v[~bad], marker=".", label=f"{k} (lr {lrs[k]:.2g})")
        if bad.any():
            b.plot(ep[bad], np.full(bad.sum(), top), "x", color=line.get_color(),
                   label=f"{k}: loss > {top:.2g} or non-finite")
    b.set_yscale("log")
    b.set_ylim(top=top * 1.5)
    b.set(xlabel="epoch", ylabel="train loss", title="training at the three lrs")
    b.legend(fontsize="small")
    fig2 = figure(11, 6.4)
    for ax, (n, k) in zip(fig2.subplots(2, 2).ravel(), kinds.items()):
        _draw_sweep(ax, k["found"], title=f"{n}: Adam range test")
    good = argbest({k: h.loss[-1] for k, h in runs.items()})
    cls = {n: k["val_acc"] for n, k in kinds.items() if not k["gen"]}
    lo_lr = argbest({n: k["lr"] for n, k in kinds.items()})
    hi_lr = argbest({n: k["lr"] for n, k in kinds.items()}, max)
    reading = (f"With SGD, '{good}' (lr {lrs[good]:.2g}) ended at the lowest loss; too high "
               f"{_outcome(runs['too high'])}, too low ended at "
               f"{runs['too low'].loss[-1] / runs['suggested'].loss[-1]:.3g}x the suggested "
               "run's loss. "
               "The range "
               f"test suggests lrs from {kinds[lo_lr]['lr']:.2g} ({lo_lr.split(' (')[0]}) to "
               f"{kinds[hi_lr]['lr']:.2g} ({hi_lr.split(' (')[0]}); the classifiers reached "
               f"{fmt(min(cls.values()), 3)}-{fmt(max(cls.values()), 3)} val accuracy.")
    return Section(TITLE, "What the learning rate does to training, and what the LR range test "
                   "(gc.diagnostics.lr_find) picks for different architectures.", [t1, t2],
                   [(png(fig), "too high, suggested and too low learning rate"),
                    (png(fig2), "range tests of four kinds of network")], reading)
