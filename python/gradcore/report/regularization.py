"""6. Regularisation compared on a deliberately small training set (so the net can overfit):
none, an L1 penalty, an L2 penalty, dropout and batch norm on the same MLP."""
from ._base import (Section, Table, accuracy, argbest, ce, figure, fit, fmt, gc, mlp, np, optim,
                    png, step_grad_norms, tied)

TITLE = "Regularisation compared"
N_TRAIN = 300
L1, L2 = 1e-4, 3e-3
SIZES = [64, 256, 256, 10]


def _weights(model):
    return [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 2]


VARIANTS = {   # name -> (model kwargs, penalty(model) or None)
    "none": ({}, None),
    f"L1 ({L1:g} * sum abs w)": ({}, lambda m: L1 * gc.nn.functional.l1_penalty(_weights(m))),
    f"L2 ({L2:g}/2 * sum w^2)": ({}, lambda m: (L2 / 2) * sum((w * w).sum() for w in _weights(m))),
    "dropout 0.5": ({"dropout": 0.5}, None),
    "batch norm": ({"batchnorm": True}, None),
}


def build(ctx):
    rng = np.random.default_rng(ctx.seed)
    idx = np.sort(rng.choice(len(ctx.y), N_TRAIN, replace=False))
    X, y = ctx.X[idx], ctx.y[idx]
    epochs = ctx.epochs(40, 8)
    res = {}
    for name, (kw, penalty) in VARIANTS.items():
        ctx.seed_all(600)
        model = mlp(SIZES, **kw)

        def loss_fn(out, target, model=model, penalty=penalty):
            loss = ce(out, target)
            return loss if penalty is None else loss + penalty(model)
        h = fit(model, optim.Adam(model.parameters(), lr=1e-3), ctx.loader(X, y, 32), epochs,
                ctx.val_loader(), loss_fn=loss_fn)
        with gc.no_grad():
            wnorm = float(sum((w * w).sum().item() for w in _weights(model))) ** 0.5
        steps = len(step_grad_norms(h)) // epochs
        res[name] = dict(h=h, train=accuracy(model, X, y), val=accuracy(model, ctx.Xv, ctx.yv),
                         gnorm=float(np.mean(step_grad_norms(h)[-steps:])), wnorm=wnorm)
    rows = [[n, fmt(r["train"]), fmt(r["val"]), fmt(r["train"] - r["val"], 3),
             fmt(r["h"].val_loss[-1]), fmt(r["gnorm"]), fmt(r["wnorm"])]
            for n, r in res.items()]
    t = Table(["regulariser", "train accuracy", "val accuracy", "gap", "val loss",
               "grad norm (last epoch)", "weight norm"], rows,
              f"MLP {'-'.join(map(str, SIZES))} (ReLU) trained {epochs} epochs (Adam lr 1e-3, "
              f"batch 32) on only {N_TRAIN} training digits; accuracies in eval mode")
    fig = figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    for n, r in res.items():
        a.plot(np.arange(1, epochs + 1), r["h"].val_accuracy, label=n)
    a.set(xlabel="epoch", ylabel="val accuracy", title="val accuracy per epoch")
    a.grid(alpha=0.3)
    a.legend(fontsize="small", loc="lower right")
    names = list(res)
    pos = np.arange(len(names))
    b.bar(pos - 0.2, [res[n]["train"] for n in names], 0.4, label="train")
    b.bar(pos + 0.2, [res[n]["val"] for n in names], 0.4, label="val")
    lo = min(res[n]["val"] for n in names)
    b.set_ylim(max(0.0, lo - 0.1), 1.01)
    b.set_xticks(pos, [n.split(" (")[0] for n in names])
    b.set(ylabel="accuracy (axis zoomed)", title="final train and val accuracy")
    b.legend(fontsize="small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    val = {n: r["val"] for n, r in res.items()}
    gap = {n: r["train"] - r["val"] for n, r in res.items()}
    best, tight = argbest(val, max), argbest(gap)
    reading = (f"{tied(val)} gave the best val accuracy ({fmt(val[best])} vs "
               f"{fmt(val['none'])} without regularisation) and {tied(gap, min)} the "
               f"smallest train-val gap ({fmt(gap[tight], 3)} vs {fmt(gap['none'], 3)}).")
    return Section(TITLE, f"Five ways to train the same network on {N_TRAIN} digits: how well "
                   "each generalises, and what it does to the gradients and weights.", [t],
                   [(png(fig), "regularisation comparison")], reading)
