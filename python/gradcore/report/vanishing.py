"""11. Vanishing and exploding gradients: a deep sigmoid net with the default init, a ReLU net
of the same depth with Kaiming init, and the ReLU net with a too-large init; per-layer gradient
norms at initialisation and what training then does."""
import math

from ._base import (Section, Table, ce, fit, figure, fmt, gc, mlp, nn, np, optim, pct, png)

TITLE = "Vanishing and exploding gradients"
DEPTH, WIDTH = 10, 64


def _kaiming(gain=1.0):
    def init(model):
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                with gc.no_grad():
                    m.weight.mul_(gain)
                nn.init.zeros_(m.bias)
    return init


NETS = {   # name -> (activation, re-initialisation or None)
    "sigmoid, default init": (nn.Sigmoid, None),
    "ReLU, Kaiming init": (nn.ReLU, _kaiming()),
    "ReLU, Kaiming x 2.5": (nn.ReLU, _kaiming(2.5)),
}


def _layer_norms(model, X, y, batches=4, bs=128):
    """Mean gradient L2 norm of each Linear layer's weight over a few batches."""
    lins = [m for m in model.modules() if isinstance(m, nn.Linear)]
    acc = np.zeros(len(lins))
    for i in range(batches):
        model.zero_grad()
        sl = slice(i * bs, (i + 1) * bs)
        ce(model(gc.tensor(X[sl])), gc.tensor(y[sl])).backward()
        with gc.no_grad():
            acc += [math.sqrt(float((m.weight.grad * m.weight.grad).sum().item())) for m in lins]
    model.zero_grad()
    return acc / batches


def _draw(res, n_layers):
    """Per-layer gradient norms at initialisation; the training curves after."""
    fig = figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    for n, r in res.items():
        a.semilogy(np.arange(1, n_layers + 1), r["norms"], "o-", label=n)
    a.set(xlabel="layer (1 = input side)", ylabel="weight-gradient L2 norm (log)",
          title="per-layer gradient norm at initialisation")
    a.set_xticks(range(1, n_layers + 1))
    a.legend(fontsize="small")
    finite = [x for r in res.values() for x in r["h"].loss if math.isfinite(x)]
    ceiling = 2 * max(finite) if finite else 10.0
    for n, r in res.items():
        v = np.array(r["h"].loss, float)
        ep = np.arange(1, len(v) + 1)
        line, = b.semilogy(ep, np.where(np.isfinite(v), v, np.nan), ".-", label=n)
        if not np.isfinite(v).all():
            b.plot(ep[~np.isfinite(v)], np.full((~np.isfinite(v)).sum(), ceiling), "x",
                   color=line.get_color(), label=f"{n}: non-finite loss")
    b.set(xlabel="epoch", ylabel="train loss (log)", title="training afterwards")
    b.legend(fontsize="small")
    return png(fig)


def build(ctx):
    epochs = ctx.epochs(10, 3)
    res = {}
    for name, (act, init) in NETS.items():
        ctx.seed_all(1100)
        model = mlp([64] + [WIDTH] * DEPTH + [10], act)
        if init is not None:
            init(model)
        norms = _layer_norms(model, ctx.X, ctx.y)
        h = fit(model, optim.SGD(model.parameters(), lr=0.02, momentum=0.9),
                ctx.loader(ctx.X, ctx.y), epochs, ctx.val_loader())
        flags = sorted({i.kind for i in h.monitor.issues()})
        res[name] = dict(norms=norms, h=h, flags=", ".join(flags) or "none")
    names = list(res)
    n_layers = len(res[names[0]]["norms"])
    t1 = Table(["layer (Linear)"] + [f"grad norm: {n}" for n in names],
               [[str(i + 1)] + [fmt(res[n]["norms"][i], 3) for n in names]
                for i in range(n_layers)],
               f"{DEPTH} hidden layers of {WIDTH}; weight-gradient L2 norm at initialisation "
               "(mean over 4 batches of 128); layer 1 is nearest the input")
    rows = []
    for n, r in res.items():
        v, h = r["norms"], r["h"]
        fin = [x for x in h.loss if math.isfinite(x)]
        rows.append([n, fmt(v[0] / v[-1], 3), fmt(h.loss[-1]), fmt(h.val_accuracy[-1]),
                     pct(len(fin) / len(h.loss)), r["flags"]])
    t2 = Table(["network", "layer 1 / last layer", f"train loss, epoch {epochs}",
                "val accuracy", "finite epochs", "monitor alerts"], rows,
               f"then trained {epochs} epochs with SGD lr 0.02 momentum 0.9")
    image = _draw(res, n_layers)
    ratio = {n: r["norms"][0] / r["norms"][-1] for n, r in res.items()}
    lo = min(ratio, key=ratio.get)
    acc = {n: r["h"].val_accuracy[-1] for n, r in res.items()}
    best = max(acc, key=lambda n: acc[n] if acc[n] is not None else -1)
    top = {n: float(r["norms"].max()) for n, r in res.items()}
    big = max(top, key=top.get)
    dead = [n for n, r in res.items() if not all(math.isfinite(x) for x in r["h"].loss)]
    reading = (f"At initialisation the input-side layer's gradient is {fmt(ratio[lo], 3)}x the "
               f"output layer's in '{lo}' (vanishing); '{big}' has the largest gradients "
               f"(up to {fmt(top[big], 3)})"
               + (f" and {' and '.join(repr(n) for n in dead)} went non-finite in training"
                  if dead else "")
               + f"; after {epochs} epochs '{best}' reached the best val accuracy "
               f"({fmt(acc[best])}).")
    return Section(TITLE, f"Gradients through {DEPTH} hidden layers: how the activation and the "
                   "initial weight scale make them shrink or grow layer by layer.", [t1, t2],
                   [(image, "per-layer gradient norms of deep nets")], reading)
