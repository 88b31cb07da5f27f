"""Training-step time of MLPs: gradcore eager vs PyTorch eager (ms per step, lower is better).

One step = zero_grad, forward, loss, backward, optimizer step, on a fixed random batch:
    mlp_64-128-10_b32_adam                     cross-entropy, Adam(lr=1e-3)
    mlp_mnist_784-512-512-10_b128_adam         cross-entropy, Adam(lr=1e-3)
    mlp_1024-4096-4096-1024_b256_sgdm          MSE, SGD(lr=1e-3, momentum=0.9)
ReLU between Linear layers. Both models start from the same weights (torch's default init,
copied into gradcore), so ``loss0_*`` (the first step's loss) must agree: a cheap check that
both sides compute the same thing. ratio_vs_torch = torch ms / gradcore ms (> 1: gradcore faster).

``gradcore_impl`` says what ran: gc.nn / gc.nn.functional / gc.optim per the API contract, or a
hand-written fallback (x @ W + b with W stored (in, out); log-sum-exp cross-entropy; Adam and
SGD written with gc ops under no_grad) for any part whose import or first step failed.

    python bench/bench_train.py [--quick] [--reps N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np

CONFIGS = [("mlp_64-128-10_b32_adam", (64, 128, 10), 32, "adam", "ce"),
           ("mlp_mnist_784-512-512-10_b128_adam", (784, 512, 512, 10), 128, "adam", "ce"),
           ("mlp_1024-4096-4096-1024_b256_sgdm", (1024, 4096, 4096, 1024), 256, "sgdm", "mse")]
QUICK = [("mlp_16-32-4_b8_adam", (16, 32, 4), 8, "adam", "ce"),
         ("mlp_32-16-16-4_b8_adam", (32, 16, 16, 4), 8, "adam", "ce"),
         ("mlp_16-32-32-16_b8_sgdm", (16, 32, 32, 16), 8, "sgdm", "mse")]
LR, MOMENTUM = 1e-3, 0.9


def _init_weights(dims, torch):
    """(W (out, in), b (out,)) per layer as numpy float32: torch's default Linear init."""
    rng = np.random.default_rng(0)
    out = []
    for i, o in zip(dims[:-1], dims[1:]):
        k = 1.0 / np.sqrt(i)
        out.append((rng.uniform(-k, k, (o, i)).astype(np.float32),
                    rng.uniform(-k, k, (o,)).astype(np.float32)))
    return out


# ---- gradcore: the API contract ---------------------------------------------------------
def _gc_api_model(weights):
    nn = gc.nn
    layers = []
    for j, (w, b) in enumerate(weights):
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.copy_(gc.tensor(w))
        lin.bias.copy_(gc.tensor(b))
        layers += [lin, nn.ReLU()] if j < len(weights) - 1 else [lin]
    model = nn.Sequential(*layers)
    return model, list(model.parameters()), model


def _gc_api_loss(kind):
    F = gc.nn.functional
    return F.cross_entropy if kind == "ce" else F.mse_loss


def _gc_api_opt(params, opt):
    if opt == "adam":
        return gc.optim.Adam(params, lr=LR)
    return gc.optim.SGD(params, lr=LR, momentum=MOMENTUM)


# ---- gradcore: hand-written fallback ----------------------------------------------------
def _gc_fb_model(weights):
    ps = []
    for w, b in weights:  # W stored (in, out) so the forward needs no transpose copy
        ps += [gc.tensor(np.ascontiguousarray(w.T), requires_grad=True),
               gc.tensor(b, requires_grad=True)]

    def forward(x):
        for j in range(0, len(ps), 2):
            x = x @ ps[j] + ps[j + 1]
            if j < len(ps) - 2:
                x = x.relu()
        return x
    return forward, ps, None


def _gc_fb_loss(kind):
    def ce(z, y):  # y: (N, C) one-hot float, prepared once; -mean(sum(y * log_softmax(z)))
        m = z.detach().amax(dim=1, keepdim=True)
        lse = ((z - m).exp().sum(dim=1, keepdim=True)).log() + m
        return -((z - lse) * y).sum() * (1.0 / z.shape[0])

    def mse(z, y):
        d = z - y
        return (d * d).mean()
    return ce if kind == "ce" else mse


class _FallbackOpt:
    """Adam / SGD-momentum with torch.optim's update rules, written with gc ops."""

    def __init__(self, params, opt):
        self.params, self.opt, self.t = params, opt, 0
        self.m = [gc.zeros_like(p) for p in params]
        self.v = [gc.zeros_like(p) for p in params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        with gc.no_grad():
            for i, p in enumerate(self.params):
                g = p.grad
                if self.opt == "adam":
                    self.m[i] = self.m[i] * b1 + g * (1 - b1)
                    self.v[i] = self.v[i] * b2 + g * g * (1 - b2)
                    mh = self.m[i] * (1.0 / (1 - b1 ** self.t))
                    vh = self.v[i] * (1.0 / (1 - b2 ** self.t))
                    p.copy_(p - mh / (vh.sqrt() + eps) * LR)
                else:  # buf = momentum * buf + g (first step: buf = g); p -= lr * buf
                    self.m[i] = g if self.t == 1 else self.m[i] * MOMENTUM + g
                    p.copy_(p - self.m[i] * LR)


def _gc_setup(weights, kind, opt, x, y):
    """(step function, impl description): the API when it works, else the fallback."""
    xt = gc.tensor(x)
    parts = []
    try:
        fwd, params, _ = _gc_api_model(weights)
        parts.append("gc.nn")
    except Exception as e:  # noqa: BLE001 (any failure of a module still being written)
        fwd, params, _ = _gc_fb_model(weights)
        parts.append(f"fallback-model({type(e).__name__})")
    try:
        loss_fn = _gc_api_loss(kind)
        yt = gc.tensor(y)
        loss_fn(fwd(xt), yt)
        parts.append("gc.nn.functional")
    except Exception as e:  # noqa: BLE001
        loss_fn = _gc_fb_loss(kind)
        yt = gc.tensor(np.eye(weights[-1][0].shape[0], dtype=np.float32)[y] if kind == "ce" else y)
        parts.append(f"fallback-loss({type(e).__name__})")
    try:
        optim = _gc_api_opt(params, opt)
        parts.append("gc.optim")
    except Exception as e:  # noqa: BLE001
        optim = _FallbackOpt(params, opt)
        parts.append(f"fallback-optim({type(e).__name__})")

    def step():
        optim.zero_grad()
        loss = loss_fn(fwd(xt), yt)
        loss.backward()
        optim.step()
        return loss
    return step, " ".join(parts)


def _torch_setup(torch, weights, kind, opt, x, y):
    layers = []
    for j, (w, b) in enumerate(weights):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()] if j < len(weights) - 1 else [lin]
    model = torch.nn.Sequential(*layers)
    F = torch.nn.functional
    loss_fn = F.cross_entropy if kind == "ce" else F.mse_loss
    if opt == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=LR)
    else:
        optim = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optim.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optim.step()
        return loss
    return step


def bench_config(s, torch, name, dims, batch, opt, kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, dims[0])).astype(np.float32)
    y = (rng.integers(0, dims[-1], batch) if kind == "ce"
         else rng.standard_normal((batch, dims[-1])).astype(np.float32))
    weights = _init_weights(dims, torch)
    gstep, impl = _gc_setup(weights, kind, opt, x, y)
    rec = {"workload": name, "unit": "ms_per_step", "gradcore_impl": impl,
           "loss0_gradcore": float(gstep().item())}
    cands = {"gradcore": gstep}
    if torch is not None:
        tstep = _torch_setup(torch, weights, kind, opt, x, y)
        rec["loss0_torch"] = float(tstep().item())
        cands["torch"] = tstep
    med, spread = s.time(cands, target_s=s.target_s * 4)
    return H.finish(rec, med, spread, 1e3)


def run_bench(s):
    torch = H.try_torch()
    return [bench_config(s, torch, *c) for c in (QUICK if s.quick else CONFIGS)]


def main(argv=None):
    return H.module_main(run_bench, "MLP training-step time vs torch", argv)


if __name__ == "__main__":
    main()
