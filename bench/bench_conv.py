"""Training-step time of a LeNet-style CNN: gradcore eager vs PyTorch eager (ms).

One step = zero_grad, forward, cross-entropy, backward, Adam(lr=1e-3) step on a fixed batch of
28x28 single-channel images:
    conv 1->16 5x5 pad 2, ReLU, max-pool 2, conv 16->32 5x5, ReLU, max-pool 2, flatten,
    dense 800->128, ReLU, dense 128->10
Both models start from the same weights (torch's default init, copied into gradcore), so
``loss0_*`` (the first step's loss) must agree. Also timed: each conv layer's forward, input
gradient and weight gradient on its own (``conv*_fwd`` / ``_bwd_input`` / ``_bwd_weight``), through
gradcore's kernels and torch's aten ops. ratio_vs_torch = torch ms / gradcore ms (> 1: gradcore
faster).

    python bench/bench_conv.py [--quick] [--reps N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np

LR = 1e-3
# (name, batch, image size); quick: a smaller batch and image.
CONFIGS = [("lenet_b64_28x28_adam", 64, 28)]
QUICK = [("lenet_b8_16x16_adam", 8, 16)]


def _dense_in(size):
    s = (size // 2 - 4) // 2   # pad-2 conv keeps size, pool halves, 5x5 conv -4, pool halves
    return 32 * s * s


def _init_weights(size):
    """[(weight, bias)] per layer as float32 numpy: torch's default init bounds."""
    rng = np.random.default_rng(0)
    shapes = [(16, 1, 5, 5), (32, 16, 5, 5), (128, _dense_in(size)), (10, 128)]
    out = []
    for s in shapes:
        fan_in = int(np.prod(s[1:]))
        k = 1.0 / np.sqrt(fan_in)
        out.append((rng.uniform(-k, k, s).astype(np.float32),
                    rng.uniform(-k, k, s[:1]).astype(np.float32)))
    return out


def _layers(nn, size):
    return [nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(_dense_in(size), 128), nn.ReLU(), nn.Linear(128, 10)]


def _setup(lib, to_tensor, weights, size, x, y):
    """One training-step closure; ``lib`` is gradcore or torch (the same API), ``to_tensor``
    its numpy conversion. Both libraries start from the same weights."""
    model = lib.nn.Sequential(*_layers(lib.nn, size))
    with lib.no_grad():
        for p, a in zip(model.parameters(), [a for wb in weights for a in wb]):
            p.copy_(to_tensor(a))
    opt = lib.optim.Adam(model.parameters(), lr=LR)
    F = lib.nn.functional
    xt, yt = to_tensor(x), to_tensor(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return step


def _gc_setup(weights, size, x, y):
    return _setup(gc, gc.tensor, weights, size, x, y)


def _torch_setup(torch, weights, size, x, y):
    return _setup(torch, torch.from_numpy, weights, size, x, y)


def bench_step(s, torch, name, batch, size):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    weights = _init_weights(size)
    gstep = _gc_setup(weights, size, x, y)
    rec = {"workload": name, "unit": "ms", "loss0_gradcore": float(gstep().item())}
    cands = {"gradcore": gstep}
    if torch is not None:
        tstep = _torch_setup(torch, weights, size, x, y)
        rec["loss0_torch"] = float(tstep().item())
        cands["torch"] = tstep
    med, spread = s.time(cands, target_s=s.target_s * 4)
    return H.finish(rec, med, spread, 1e3)


def bench_layers(s, torch, batch, size):
    """Each LeNet conv's three kernels alone (float32, bias included)."""
    from gradcore.dispatch import K, run
    rng = np.random.default_rng(2)
    recs = []
    for lname, (c, o, h, p) in (("conv1_1-16", (1, 16, size, 2)),
                                ("conv2_16-32", (16, 32, size // 2, 0))):
        ho = h + 2 * p - 4
        x = rng.standard_normal((batch, c, h, h)).astype(np.float32)
        w = rng.standard_normal((o, c, 5, 5)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        g = rng.standard_normal((batch, o, ho, ho)).astype(np.float32)
        at = (1, 1, p, p, p, p, 1, 1, 1)
        ours = {"fwd": lambda: run(K.conv2d_bias, x, w, b, g.shape, at),
                "bwd_input": lambda: run(K.conv2d_backward_input, g, w, x.shape, at),
                "bwd_weight": lambda: run(K.conv2d_backward_weight_bias, g, x, w.shape, (o,), at)}
        theirs = {}
        if torch is not None:
            xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, w, b, g))
            cb = torch.ops.aten.convolution_backward
            theirs = {"fwd": lambda: torch.nn.functional.conv2d(xt, wt, bt, 1, p),
                      "bwd_input": lambda: cb(gt, xt, wt, [o], [1, 1], [p, p], [1, 1], False,
                                              [0, 0], 1, [True, False, False]),
                      "bwd_weight": lambda: cb(gt, xt, wt, [o], [1, 1], [p, p], [1, 1], False,
                                               [0, 0], 1, [False, True, True])}
        for part, fn in ours.items():
            cands = {"gradcore": fn}
            if part in theirs:
                cands["torch"] = theirs[part]
            med, spread = s.time(cands)
            recs.append(H.finish({"workload": f"{lname}_b{batch}_{part}", "unit": "ms"}, med,
                                 spread, 1e3))
    return recs


def run_bench(s):
    torch = H.try_torch()
    recs = []
    for name, batch, size in (QUICK if s.quick else CONFIGS):
        recs.append(bench_step(s, torch, name, batch, size))
        recs += bench_layers(s, torch, batch, size)
    return recs


def main(argv=None):
    return H.module_main(run_bench, "LeNet CNN training-step time vs torch", argv)


if __name__ == "__main__":
    main()
