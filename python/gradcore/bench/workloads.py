"""The workloads of ``python -m gradcore bench``: what each candidate runs, and its FLOPs.

Candidates: ``gradcore`` (eager), ``compiled`` (``gc.compile`` of the same step: forward, loss,
backward, optimizer step, zero_grad), ``torch`` (eager, when importable) and ``numpy`` (sgemm).
Each workload has a stable ``key`` (what ``--only`` and the targets use) and a ``name`` that
states its sizes; ``--quick`` shrinks the sizes (smoke test), the keys stay.
"""
import numpy as np

from . import models as M

# key -> (group, full-size parameters, quick parameters)
SGEMM = {"sgemm_256": 256, "sgemm_1024": 1024, "sgemm_2048": 2048}
SGEMM_QUICK = {"sgemm_256": 32, "sgemm_1024": 64, "sgemm_2048": 96}
CHAIN_ROUNDS = 33            # y = tanh(y * a + b) 33 times, then sum: 100 ops
CHAIN_OPS = 3 * CHAIN_ROUNDS + 1

MLPS = {  # key: (dims, batch, optimizer, loss), quick dims/batch
    "mlp_small": ((64, 128, 10), 32, "adam", "ce", (16, 32, 4), 8),
    "mlp_mnist": ((784, 512, 512, 10), 128, "adam", "ce", (32, 16, 16, 4), 8),
    "mlp_wide": ((1024, 4096, 4096, 1024), 256, "sgdm", "mse", (16, 32, 32, 16), 8),
}
RNNS = {"rnn": "RNN", "lstm": "LSTM"}   # input 32, hidden 64, 20 steps, batch 32, 10 classes

# Workloads whose step time is put against (step FLOPs / sgemm rate): the size of the sgemm
# whose rate is measured in the same process, alternating with the steps.
STEP_BOUND = {"mlp_wide": 1024}
KEYS = (list(SGEMM) + ["tiny_chain"] + list(MLPS) + ["lenet", "rnn", "lstm", "vae"])
GROUPS = {"sgemm": list(SGEMM), "mlp": list(MLPS), "train": list(MLPS) + ["lenet", "rnn",
                                                                           "lstm", "vae"]}


def kind(key):
    return "sgemm" if key in SGEMM else "chain" if key == "tiny_chain" else "train"


def select(only):
    """The keys ``--only`` names (keys or groups, comma-separated), in suite order."""
    if not only:
        return list(KEYS)
    want = set()
    for item in (s.strip() for s in only.split(",")):
        if item in KEYS:
            want.add(item)
        elif item in GROUPS:
            want.update(GROUPS[item])
        elif item:
            raise SystemExit(f"gradcore bench: unknown workload {item!r}; choose from "
                             f"{', '.join(KEYS)} or a group ({', '.join(GROUPS)})")
    return [k for k in KEYS if k in want]


# ---- FLOPs: products as (M, K, N, input grad needed); a step = forward + weight grad (+ input
# grad), each 2 M K N. Elementwise work, the loss and the optimizer are not counted. -------------
def _gemm_flops(gemms):
    return float(sum(2.0 * m * k * n * (3 if ig else 2) for m, k, n, ig in gemms))


def _conv(n, cin, cout, k, hout, ig=True):   # implicit GEMM: (N Ho Wo) x (Cin K K) x Cout
    return (n * hout * hout, cin * k * k, cout, ig)


class TrainSpec:
    """One training workload: model builder, data, loss and optimizer kinds, FLOPs per step."""

    def __init__(self, name, build, x, y, loss, opt, gemms):
        self.name, self.build, self.x, self.y = name, build, x, y
        self.loss, self.opt, self.flops = loss, opt, _gemm_flops(gemms)


def train_spec(key, quick=False):
    rng = np.random.default_rng(1)
    if key in MLPS:
        dims, batch, opt, loss, qdims, qbatch = MLPS[key]
        dims, batch = (qdims, qbatch) if quick else (dims, batch)
        name = f"mlp_{'-'.join(map(str, dims))}_b{batch}_{opt}"
        x = rng.standard_normal((batch, dims[0])).astype(np.float32)
        y = (rng.integers(0, dims[-1], batch) if loss == "ce"
             else rng.standard_normal((batch, dims[-1])).astype(np.float32))
        gemms = [(batch, i, o, j > 0) for j, (i, o) in enumerate(zip(dims[:-1], dims[1:]))]
        return TrainSpec(name, lambda lib: M.mlp(lib, dims), x, y, loss, opt, gemms)
    if key == "lenet":
        batch, size = (8, 16) if quick else (64, 28)
        s1, s2 = size // 2 - 4, (size // 2 - 4) // 2
        x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
        gemms = [_conv(batch, 1, 16, 5, size, ig=False), _conv(batch, 16, 32, 5, s1),
                 (batch, 32 * s2 * s2, 128, True), (batch, 128, 10, True)]
        return TrainSpec(f"lenet_b{batch}_{size}x{size}_adam", lambda lib: M.lenet(lib, size),
                         x, rng.integers(0, 10, batch), "ce", "adam", gemms)
    if key in RNNS:
        n_in, hid, steps, batch, classes = (8, 16, 5, 4, 3) if quick else (32, 64, 20, 32, 10)
        cell = RNNS[key]
        g = {"RNN": 1, "LSTM": 4}[cell] * hid
        x = rng.standard_normal((steps, batch, n_in)).astype(np.float32)
        gemms = [(steps * batch, n_in, g, False), (steps * batch, hid, g, True),
                 (batch, hid, classes, True)]
        name = f"{cell.lower()}{'_tanh' if cell == 'RNN' else ''}_in{n_in}_h{hid}_L{steps}" \
               f"_b{batch}_adam"
        return TrainSpec(name, lambda lib: M.recurrent(lib, cell, n_in, hid, classes), x,
                         rng.integers(0, classes, batch), "ce", "adam", gemms)
    if key == "vae":
        batch = 8 if quick else 64
        x = rng.uniform(0, 1, (batch, 1, 8, 8)).astype(np.float32)
        gemms = [_conv(batch, 1, 32, 3, 4, ig=False), _conv(batch, 32, 64, 3, 2),
                 (batch, 256, 16, True), (batch, 256, 16, True), (batch, 16, 256, True),
                 (batch * 4, 64, 32 * 16, True), (batch * 16, 32, 16, True)]  # transposed convs
        return TrainSpec(f"conv_vae_8x8_b{batch}_adam", M.conv_vae, x, x.copy(), "vae", "adam",
                         gemms)
    raise KeyError(key)


# ---- candidates: name -> zero-argument callable ---------------------------------------------
def train_candidates(gc, torch, spec, frameworks, same_init=True):
    """Step closures for ``frameworks`` (subset of gradcore / compiled / torch) and the first
    step's loss of each. ``same_init=False`` (RSS runs) keeps each library's own init, so no
    gradcore model is built in a torch run."""
    init = M.weights(gc, spec.build) if same_init else None
    cands, loss0 = {}, {}
    for fw in [f for f in frameworks if f in ("gradcore", "compiled", "torch")]:
        lib, to_t = (torch, torch.from_numpy) if fw == "torch" else (gc, gc.tensor)
        if fw == "torch" and lib is None:
            continue
        gc.manual_seed(1)
        step, x, y = M.setup(lib, to_t, spec.build, init, spec.loss, spec.opt, spec.x, spec.y)
        if fw == "compiled":
            step = gc.compile(step)
            loss0[fw] = float(step(x, y).item())   # eager warm-up call
            step(x, y)                             # the recording
        else:
            loss0[fw] = float(step(x, y).item())
        cands[fw] = (lambda s, a, b: lambda: s(a, b))(step, x, y)
    return cands, loss0


def sgemm_candidates(gc, torch, n, frameworks):
    gc.manual_seed(n)
    a_t, b_t = gc.randn(n, n), gc.randn(n, n)
    a, b = a_t.numpy(), b_t.numpy()
    out = np.empty((n, n), np.float32)
    cands = {}
    if "gradcore" in frameworks:
        cands["gradcore"] = lambda: gc.matmul(a_t, b_t)
    if "compiled" in frameworks:
        mm = gc.compile(lambda x, y: gc.matmul(x, y))
        mm(a_t, b_t), mm(a_t, b_t)
        cands["compiled"] = lambda: mm(a_t, b_t)
    if "numpy" in frameworks:    # numpy and torch write into a preallocated output (their best)
        cands["numpy"] = lambda: np.matmul(a, b, out=out)
    if "torch" in frameworks and torch is not None:
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        cands["torch"] = lambda: torch.mm(ta, tb, out=tout)
    return cands


def _chain(x, a, b, tanh):
    y = x
    for _ in range(CHAIN_ROUNDS):
        y = tanh(y * a + b)
    return y.sum()


def chain_fwd_bwd(tanh):
    """The tiny chain's step: leaf grads reset, 100 ops forward, backward."""
    def step(x, a, b):
        x.grad = a.grad = b.grad = None
        loss = _chain(x, a, b, tanh)
        loss.backward()
        return loss
    return step


def chain_candidates(gc, torch, frameworks):
    """100 ops on (8, 8) float32 tensors: forward with graph + backward into 3 leaf grads."""
    cands = {}
    gc.manual_seed(0)
    leaves = [gc.randn(8, 8, requires_grad=True) for _ in range(3)]
    if "gradcore" in frameworks:
        step = chain_fwd_bwd(gc.tanh)
        cands["gradcore"] = lambda: step(*leaves)
    if "compiled" in frameworks:
        cl = [gc.tensor(t.detach().numpy().copy(), requires_grad=True) for t in leaves]
        comp = gc.compile(chain_fwd_bwd(gc.tanh))
        comp(*cl), comp(*cl)
        cands["compiled"] = lambda: comp(*cl)
    if "torch" in frameworks and torch is not None:
        tl = [torch.tensor(t.detach().numpy(), requires_grad=True) for t in leaves]
        tstep = chain_fwd_bwd(torch.tanh)
        cands["torch"] = lambda: tstep(*tl)
    return cands
