"""5. Layer-wise gradient norms of the reference model, from fit's GradientMonitor."""
from ._base import BASELINE, Section, Table, argbest, baseline, figure, fmt, np, png

TITLE = "Layer-wise gradient norms"


def _label(model, name):
    m = dict(model.named_modules()).get(name)
    if m is not None and hasattr(m, "in_features"):
        return f"{name}: Linear({m.in_features}->{m.out_features})"
    return name


def build(ctx):
    from gradcore.diagnostics.plots import draw_gradient_flow, draw_update_ratios
    b = baseline(ctx)
    h, model = b["hist"], b["model"]
    mon = h.monitor
    flags = {}
    for issue in mon.issues():
        flags.setdefault(issue.name, issue.kind)
    n = h.epochs
    rows, first, last = [], {}, {}
    for name, norms in h.layer_grad_norms.items():
        first[name], last[name] = norms[0], norms[-1]
        ratio = h.update_ratios.get(name, [None])[-1]
        rows.append([_label(model, name), fmt(norms[0]), fmt(norms[n // 2]), fmt(norms[-1]),
                     fmt(norms[-1] / norms[0], 3), fmt(ratio, 3), flags.get(name, "ok")])
    t = Table(["layer", "grad norm, epoch 1", f"epoch {n // 2 + 1}", f"epoch {n}",
               "last / first", f"update/weight, epoch {n}", "monitor flag"], rows,
              f"{BASELINE}; mean L2 norm of each layer's gradient over the epoch's steps")
    fig = figure(11, 4)
    a, c = fig.subplots(1, 2)
    draw_gradient_flow(a, h)
    a.set_title("gradient L2 norm per layer, every step")
    draw_update_ratios(c, h.update_ratios_step)
    big, small = argbest(last, max), argbest(last)
    shrink = np.exp(np.mean([np.log(last[k] / first[k]) for k in first]))
    reading = (f"By epoch {n} layer {_label(model, big)} carried the largest gradient "
               f"({fmt(last[big], 3)}) and {_label(model, small)} the smallest "
               f"({fmt(last[small], 3)}); the layer norms changed {fmt(shrink, 3)}x "
               f"(geometric mean) from epoch 1; "
               + (f"the monitor flagged {', '.join(f'{k} ({v})' for k, v in flags.items())}."
                  if flags else "the monitor flagged no layer."))
    return Section(TITLE, "How large each layer's gradient is during training, and how large "
                   "the optimizer's updates are relative to the weights.", [t],
                   [(png(fig), "layer-wise gradient norms")], reading)
