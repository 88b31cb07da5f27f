"""13. Attribution maps of a small CNN's predictions on held-out digits: saliency, Integrated
Gradients (from an all-black digit) and Grad-CAM of the last conv block (gc.interpret)."""
from ._base import Section, Table, fit, figure, fmt, gc, nn, np, optim, pct, png

TITLE = "Attribution maps"
WHAT = ("Which pixels a small CNN's prediction depends on, by three methods, for a few "
        "held-out digits.")
LAYER = "8"          # the ReLU after the last convolution: (N, 32, 8, 8)
INK = 0.25           # a pixel counts as ink above this raw intensity (0..1)


def _on_ink(maps, ink):
    """Share of each map's |attribution| mass that lies on the digit's ink."""
    m = np.abs(maps).reshape(len(maps), -1)
    return (m * ink.reshape(len(ink), -1)).sum(1) / np.maximum(m.sum(1), 1e-30)


def gap_cnn():
    """Three conv-BN-ReLU blocks at full 8x8 resolution, global average pooling, dense: with
    a pooled head Grad-CAM of the last block is the class activation map (with a dense head
    on the flattened map the spatially averaged gradients mostly cancel to an all-zero map)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def _draw(raw, sal, ig, cam, y, pred):
    """One column per digit: the input, saliency, integrated gradients, Grad-CAM."""
    fig = figure(11, 7.2)
    axes = fig.subplots(4, len(raw))
    for k in range(len(raw)):
        cols = [(raw[k], "gray_r", "input"), (sal[k, 0], "inferno", "saliency"),
                (ig[k, 0], "RdBu_r", "integrated gradients"), (cam[k], "inferno", "Grad-CAM")]
        for r, (img, cmap, name) in enumerate(cols):
            ax = axes[r, k]
            m = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-m if cmap == "RdBu_r" else 0, vmax=m,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name, fontsize="small")
            if r == 0:
                ax.set_title(f"label {y[k]}, predicted {pred[k]}", fontsize="small")
    return png(fig)


def build(ctx):
    from gradcore import interpret
    ctx.seed_all(1300)
    model = gap_cnn()
    X, Xv = ctx.images(ctx.X), ctx.images(ctx.Xv)
    h = fit(model, optim.Adam(model.parameters(), lr=1e-2), ctx.loader(X, ctx.y),
            ctx.epochs(8, 3), ctx.val_loader(Xv, ctx.yv))
    model.eval()
    idx = np.array([int(np.flatnonzero(ctx.yv == d)[0]) for d in (0, 2, 3, 5, 7, 9)])
    x, y = Xv[idx], ctx.yv[idx]
    with gc.no_grad():
        p = model(gc.tensor(x)).softmax(-1).numpy()
    pred = p.argmax(1)
    sal = interpret.saliency(model, x, pred)
    ig, delta = interpret.integrated_gradients(
        model, x, pred, baseline=ctx.images(ctx.blank[None]), steps=ctx.epochs(64, 16),
        return_convergence_delta=True)
    cam = interpret.grad_cam(model, LAYER, x, pred)
    ink = ctx.images(ctx.raw_val[idx])[:, 0] > INK
    share = {"saliency": _on_ink(sal[:, 0], ink), "integrated gradients": _on_ink(ig[:, 0], ink),
             "Grad-CAM": _on_ink(cam, ink)}
    rows = [[str(k + 1), str(y[k]), str(pred[k]), fmt(p[k, pred[k]], 3),
             pct(share["saliency"][k]), pct(share["integrated gradients"][k]),
             pct(share["Grad-CAM"][k]), fmt(delta[k], 3), pct(ink[k].mean())]
            for k in range(len(idx))]
    t = Table(["digit", "label", "predicted", "probability", "saliency on ink", "IG on ink",
               "Grad-CAM on ink", "IG completeness delta", "ink pixels"], rows,
              "CNN 3 x (conv3x3-BN-ReLU) -> global average pool -> dense, val accuracy "
              f"{fmt(h.val_accuracy[-1])}; "
              f"'on ink': share of |attribution| on pixels brighter than {INK}; maps for the "
              "predicted class; IG is 0 wherever a pixel equals its black baseline")
    image = _draw(ctx.images(ctx.raw_val[idx])[:, 0], sal, ig, cam, y, pred)
    mean = {k: float(v.mean()) for k, v in share.items()}
    best = max(mean, key=mean.get)
    reading = (f"On average {best} puts the most attribution on the digit's ink "
               f"({pct(mean[best])}; "
               + ", ".join(f"{k} {pct(v)}" for k, v in mean.items() if k != best)
               + f", ink is {pct(ink.mean())} of the pixels); the largest IG completeness "
               f"residual is {fmt(np.abs(delta).max(), 2)}; "
               f"{int((pred == y).sum())} of {len(idx)} shown digits are classified correctly.")
    return Section(TITLE, WHAT, [t], [(image, "saliency, integrated gradients, Grad-CAM")],
                   reading)
