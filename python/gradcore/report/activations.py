"""1. Activation functions: f'(x) at typical inputs (the engine's own backward, float64), and how
saturated / dead each activation is inside a trained 64-64-64-10 net
(gc.diagnostics.activation_gradients on the validation digits)."""
from ._base import (Section, Table, argbest, fit, figure, fmt, gc, mlp, nn, np, optim, pct,
                    png)

TITLE = "Activation functions"
XS = (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0)
_F = gc.nn.functional
FUNCS = {"sigmoid": _F.sigmoid, "tanh": _F.tanh, "relu": _F.relu,
         "leaky_relu": lambda x: _F.leaky_relu(x, 0.01), "gelu": _F.gelu,
         "softplus": _F.softplus}

def _phi(x):   # standard normal pdf and cdf (math.erf: no scipy needed)
    from math import erf
    return np.exp(-x * x / 2) / np.sqrt(2 * np.pi), 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def _sig(x):
    return 1 / (1 + np.exp(-x))


CLOSED = {   # the textbook derivatives, in numpy, to check the engine's backward against
    "sigmoid": lambda x: _sig(x) * (1 - _sig(x)),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "relu": lambda x: (x > 0).astype(float),
    "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.01),
    "gelu": lambda x: _phi(x)[1] + x * _phi(x)[0],
    "softplus": _sig,
}
MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
           "leaky_relu": lambda: nn.LeakyReLU(0.01), "gelu": nn.GELU}


def derivative(f, xs):
    """f'(x) elementwise through gc's backward (a ones seed), in float64."""
    x = gc.tensor(np.asarray(xs, np.float64), requires_grad=True)
    (d,) = gc.autograd.grad(f(x).sum(), x)
    return d.numpy()


def build(ctx):
    grid = np.linspace(-5, 5, 401)
    curves = {n: derivative(f, grid) for n, f in FUNCS.items()}
    err = {n: float(np.abs(curves[n] - CLOSED[n](grid)).max()) for n in FUNCS}
    t1 = Table(["activation"] + [f"f'({x:g})" for x in XS] + ["max error vs closed form"],
               [[n] + [fmt(v) for v in derivative(f, XS)] + [fmt(err[n], 2)]
                for n, f in FUNCS.items()],
               "derivative at typical pre-activations, from gc's backward in float64; last "
               "column: largest difference from the textbook formula on 401 points of [-5, 5]")
    epochs = ctx.epochs(12, 3)
    stats, rows = {}, []
    for i, (name, act) in enumerate(MODULES.items()):
        ctx.seed_all(i)
        model = mlp([64, 64, 64, 10], act)
        hist = fit(model, optim.Adam(model.parameters(), lr=3e-3),
                   ctx.loader(ctx.X, ctx.y), epochs, ctx.val_loader())
        model.eval()
        g = gc.diagnostics.activation_gradients(model, gc.tensor(ctx.Xv))
        mean = np.mean([v["mean_abs_grad"] for v in g.values()])
        sat = [v["frac_saturated"] for v in g.values()]
        sat = None if sat[0] is None else float(np.mean(sat))
        dead = float(np.mean([v["frac_dead"] for v in g.values()]))
        stats[name] = dict(mean=mean, sat=sat, dead=dead, acc=hist.val_accuracy[-1])
        rows.append([name, fmt(mean), pct(sat), pct(dead), fmt(hist.val_accuracy[-1])])
    t2 = Table(["activation", "mean abs f'(x)", "saturated (abs f' < 1% of peak)", "dead units",
                "val accuracy"], rows,
               f"in a trained 64-64-64-10 net ({epochs} epochs Adam, both hidden layers "
               "averaged, on the validation digits)")
    fig = figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    for n, d in curves.items():
        a.plot(grid, d, label=n, lw=1.6, ls="--" if n == "leaky_relu" else "-")
    a.set(xlabel="x", ylabel="f'(x)", title="derivative of each activation")
    a.legend(fontsize="small")
    names = list(stats)
    pos = np.arange(len(names))
    b.bar(pos - 0.27, [stats[n]["mean"] for n in names], 0.27, label="mean abs f'(x)")
    b.bar(pos, [stats[n]["sat"] or 0 for n in names], 0.27, label="fraction saturated")
    b.bar(pos + 0.27, [stats[n]["dead"] for n in names], 0.27, label="fraction of dead units")
    b.set_xticks(pos, names)
    b.set(title="measured in the trained nets", ylim=(0, 1.05))
    b.legend(fontsize="small")
    most_sat = argbest({n: s["sat"] for n, s in stats.items()}, max)
    best = argbest({n: s["acc"] for n, s in stats.items()}, max)
    least = argbest({n: s["mean"] for n, s in stats.items()})
    reading = (f"The engine's derivatives match the closed forms to {fmt(max(err.values()), 2)}; "
               f"{least} passes the least gradient (mean |f'| {fmt(stats[least]['mean'], 3)})"
               + (f"; {most_sat} is the most saturated ({pct(stats[most_sat]['sat'])} of "
                  "entries)" if most_sat else "")
               + f"; {best} reached the best val accuracy ({fmt(stats[best]['acc'])}).")
    return Section(TITLE, "How much gradient each activation lets through: analytically, and "
                   "measured on real inputs inside trained networks.", [t1, t2],
                   [(png(fig), "activation derivatives and measured saturation")], reading)
