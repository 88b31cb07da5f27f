"""3. Optimizers on the same model and the same gradient budget: every optimizer gets the same
number of passes over the training set (mini-batch ones as epochs of batch 64, L-BFGS and
nonlinear CG as full-batch loss+gradient evaluations)."""
import time

from ._base import (Section, Table, argbest, ce, figure, fit, fmt, full_loss, accuracy, gc,
                    mlp, np, optim, png, step_grad_norms, tied)

TITLE = "Optimizers compared"
MODEL = "MLP 64-64-10 (ReLU)"
MINIBATCH = {   # name -> (lr, factory); lrs fixed for batch 64 on these digits
    "SGD": (0.1, lambda p, lr: optim.SGD(p, lr=lr)),
    "momentum": (0.05, lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9)),
    "Adam": (2e-3, lambda p, lr: optim.Adam(p, lr=lr)),
    "RMSprop": (1e-3, lambda p, lr: optim.RMSprop(p, lr=lr)),
    "AdaGrad": (0.05, lambda p, lr: optim.Adagrad(p, lr=lr)),
}
FULLBATCH = {
    "L-BFGS": lambda p, n: optim.LBFGS(p, max_iter=n, max_eval=n, history_size=20,
                                       line_search_fn="strong_wolfe"),
    "nonlinear CG": lambda p, n: optim.ConjugateGradient(p, max_iter=n, max_eval=n),
}


class _FullLoss(gc.train.Callback):
    def __init__(self, ctx, out):
        self.ctx, self.out = ctx, out

    def on_epoch_end(self, epoch, logs=None):
        self.out.append(full_loss(self.model, self.ctx.X, self.ctx.y))


def _minibatch(ctx, make, lr, passes):
    model = mlp([64, 64, 10])
    curve = [full_loss(model, ctx.X, ctx.y)]
    t = time.perf_counter()
    hist = fit(model, make(model.parameters(), lr), ctx.loader(ctx.X, ctx.y), passes,
               callbacks=[_FullLoss(ctx, curve)])
    sec = time.perf_counter() - t
    return model, curve, sec, float(np.mean(step_grad_norms(hist))), passes, f"lr {lr:g}"


def _fullbatch(ctx, make, passes):
    model = mlp([64, 64, 10])
    params = list(model.parameters())
    X, Y = gc.tensor(ctx.X), gc.tensor(ctx.y)
    curve, norms = [full_loss(model, ctx.X, ctx.y)], []
    opt = make(params, passes)

    def closure():
        opt.zero_grad()
        loss = ce(model(X), Y)
        loss.backward()
        with gc.no_grad():
            norms.append(sum(float((p.grad * p.grad).sum().item()) for p in params) ** 0.5)
        curve.append(float(loss.item()))
        return loss

    t = time.perf_counter()
    opt.step(closure)
    sec = time.perf_counter() - t
    curve[-1] = full_loss(model, ctx.X, ctx.y)   # the loss at the final parameters
    return model, curve, sec, float(np.mean(norms)), len(norms), "strong-Wolfe line search"


def build(ctx):
    passes = ctx.epochs(30, 5)
    res = {}
    for name, (lr, make) in MINIBATCH.items():
        ctx.seed_all(200)   # the same initial weights for every optimizer
        res[name] = _minibatch(ctx, make, lr, passes)
    for name, make in FULLBATCH.items():
        ctx.seed_all(200)
        res[name] = _fullbatch(ctx, make, passes)
    final = {n: r[1][-1] for n, r in res.items()}
    acc = {n: accuracy(r[0], ctx.Xv, ctx.yv) for n, r in res.items()}
    rows = [[n, r[5], str(r[4]), fmt(final[n]), fmt(acc[n]), fmt(1e3 * r[2], 3), fmt(r[3])]
            for n, r in res.items()]
    t = Table(["optimizer", "setting", "passes over the data", "final train loss",
               "val accuracy", "ms (wall)", "mean gradient norm"], rows,
              f"{MODEL}, the same initial weights, {passes} passes over the 1438 training "
              "digits; mean gradient norm: of the mini-batch gradients (batch 64) or of the "
              "full-batch gradients (L-BFGS, CG)")
    fig = figure(11, 4)
    a, b = fig.subplots(1, 2)
    for n, r in res.items():
        a.plot(np.arange(len(r[1])) if n in FULLBATCH else np.arange(passes + 1), r[1],
               marker="." if n in FULLBATCH else None, ls="--" if n in FULLBATCH else "-",
               label=n)
    a.set_yscale("log")
    a.set(xlabel="passes over the training data (gradient evaluations / N)",
          ylabel="full training loss", title="training loss for the same gradient budget")
    a.legend(fontsize="small", ncol=2)
    names = list(res)
    vals = [acc[n] for n in names]
    b.hlines(range(len(names)), min(vals) - 0.02, vals, color="0.8")
    b.plot(vals, range(len(names)), "o", color="tab:green")
    for y, n in enumerate(names):
        b.text(acc[n], y - 0.25, f"{acc[n]:.3f}", ha="center", fontsize="small")
    b.set_yticks(range(len(names)), names)
    b.set(xlim=(min(vals) - 0.02, max(vals) + 0.01), xlabel="val accuracy",
          title="held-out accuracy (axis zoomed)")
    b.set_ylim(len(names) - 0.5, -0.9)    # top to bottom, room for the first label
    low, hi = argbest(final), argbest(acc, max)
    fast = argbest({n: r[2] for n, r in res.items()})
    reading = ((f"{low} reached both the lowest training loss ({fmt(final[low])}) and the best "
                f"val accuracy ({fmt(acc[hi])})" if low == hi else
                f"{low} reached the lowest training loss ({fmt(final[low])}) and {tied(acc)} "
                f"the best val accuracy ({fmt(acc[hi])})")
               + f" on this budget; {fast} took the least time ({fmt(1e3 * res[fast][2], 3)} ms).")
    return Section(TITLE, "Seven optimizers train the same network from the same weights with "
                   "the same number of gradient evaluations.", [t],
                   [(png(fig), "optimizer comparison")], reading)
