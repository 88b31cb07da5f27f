"""8. Initialisation: the default (PyTorch's), too small, too large, each over several seeds; the
spread of the final loss shows how much the outcome depends on the draw."""
from ._base import Section, Table, accuracy, figure, fit, fmt, mlp, nn, np, optim, png

TITLE = "Initialisation"
SIZES = [64, 128, 128, 128, 10]


def _normal(std):
    def init(model):
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, std)
                nn.init.zeros_(m.bias)
    return init


INITS = {   # name -> weight re-initialisation (None: the layers' default)
    "default (kaiming uniform, a=sqrt 5)": None,
    "kaiming normal (ReLU gain)": lambda model: [
        (nn.init.kaiming_normal_(m.weight, nonlinearity="relu"), nn.init.zeros_(m.bias))
        for m in model.modules() if isinstance(m, nn.Linear)],
    "too small (N(0, 0.01^2))": _normal(0.01),
    "too large (N(0, 0.5^2))": _normal(0.5),
}


def _draw(res, epochs):
    """Every seed's loss curve per initialisation, and the spread of the final losses."""
    fig = figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    colors = ["tab:blue", "tab:green", "tab:orange", "tab:red"]
    for (name, runs), c in zip(res.items(), colors):
        for j, (loss, _) in enumerate(runs):
            a.plot(np.arange(1, epochs + 1), loss, color=c, lw=1, alpha=0.8,
                   label=name if j == 0 else None)
        fin = [r[0][-1] for r in runs]
        b.plot(np.full(len(fin), list(res).index(name)), fin, "o", color=c, alpha=0.7)
    a.set_yscale("log")
    a.set(xlabel="epoch", ylabel="train loss", title="every seed's training curve")
    a.legend(fontsize="x-small")
    b.set_yscale("log")
    b.set_xticks(range(len(res)), [n.split(" (")[0] for n in res])
    b.set_xlim(-0.5, len(res) - 0.5)
    b.set(ylabel="final train loss", title="spread of the final loss over seeds")
    return png(fig)


def build(ctx):
    seeds = range(ctx.epochs(8, 3))
    epochs = ctx.epochs(12, 3)
    res = {}
    for name, init in INITS.items():
        runs = []
        for s in seeds:
            ctx.seed_all(800 + s)
            model = mlp(SIZES)
            if init is not None:
                init(model)
            h = fit(model, optim.SGD(model.parameters(), lr=0.02, momentum=0.9),
                    ctx.loader(ctx.X, ctx.y), epochs)
            runs.append((h.loss, accuracy(model, ctx.Xv, ctx.yv)))
        res[name] = runs
    rows = []
    stats = {}
    for name, runs in res.items():
        final = np.array([r[0][-1] for r in runs], float)
        acc = np.array([r[1] for r in runs])
        ok = np.isfinite(final)
        stats[name] = (np.mean(final) if ok.all() else np.nan, np.std(final) if ok.all()
                       else np.nan, acc.mean())
        rows.append([name, str(len(runs)), fmt(stats[name][0]), fmt(stats[name][1]),
                     fmt(final[ok].min() if ok.any() else None),
                     fmt(final[ok].max() if ok.any() else None),
                     str(int((~ok).sum())), fmt(acc.mean()), fmt(acc.std(), 3)])
    t = Table(["initialisation", "seeds", "final loss mean", "std", "min", "max",
               "non-finite", "val accuracy mean", "val accuracy std"], rows,
              f"MLP {'-'.join(map(str, SIZES))} (ReLU), SGD lr 0.02 momentum 0.9, batch 64, "
              f"{epochs} epochs; final loss = train loss of the last epoch")
    image = _draw(res, epochs)
    fin = {n: s[0] for n, s in stats.items() if np.isfinite(s[0])}
    best, worst = min(fin, key=fin.get), max(fin, key=fin.get)
    spread = {n: stats[n][1] / v for n, v in fin.items() if v > 0}
    wide = max(spread, key=spread.get)
    acc_best = max(stats, key=lambda n: stats[n][2])
    bad = {n: sum(not np.isfinite(r[0][-1]) for r in runs) for n, runs in res.items()}
    reading = (f"{best} ended lowest on average ({fmt(fin[best])}), {worst} highest "
               f"({fmt(fin[worst])}); the relative spread over seeds was largest for {wide} "
               f"(std/mean {spread[wide]:.2f}); {acc_best} had the best mean val accuracy "
               f"({fmt(stats[acc_best][2])})"
               + "".join(f"; {n} diverged in {k} of {len(res[n])} seeds"
                         for n, k in bad.items() if k) + ".")
    return Section(TITLE, "The same network started from differently scaled random weights, "
                   f"{len(seeds)} seeds each.", [t], [(image, "initialisation")], reading)
