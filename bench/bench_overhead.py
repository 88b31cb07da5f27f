"""Per-op Python overhead: a 100-op chain on tiny tensors, gradcore eager vs PyTorch eager.

The chain on an (8, 8) float32 input x with two (8, 8) parameters a, b (all requiring grad):
    y = x;  33 times: y = tanh(y * a + b);  loss = y.sum()          -> 99 elementwise ops + 1 sum
Compute is negligible at this size, so microseconds per op measure the framework: op dispatch,
graph recording, the backward walk, gradient accumulation into a.grad / b.grad (33 uses each).
Workloads (unit: microseconds per op, lower is better):
    tiny_chain_100ops_fwd_bwd   forward with graph + loss.backward() (leaf grads reset to None)
    tiny_chain_100ops_fwd       forward with graph recording, no backward
    tiny_chain_100ops_nograd    forward under no_grad (numpy: the same chain on arrays, a floor)
    tiny_kernel_call            one mul into a preallocated output: gradcore's run(K.mul, ...)
                                vs numpy out= vs torch out= (the floor below any tensor op)
ratio_vs_torch = torch time / gradcore time (> 1: gradcore faster).

    python bench/bench_overhead.py [--quick] [--reps N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np
from gradcore.dispatch import K, run  # noqa: E402

SHAPE = (8, 8)
ROUNDS = 33  # 3 ops per round + the final sum = 100 ops
N_OPS = 3 * ROUNDS + 1


def _chain(x, a, b, tanh):
    y = x
    for _ in range(ROUNDS):
        y = tanh(y * a + b)
    return y.sum()


def _autograd_case(randn, no_grad, tanh):
    """fwd_bwd / fwd / nograd closures over the chain, for gradcore or torch (same code)."""
    x, a, b = (randn() for _ in range(3))

    def fwd_bwd():
        x.grad = a.grad = b.grad = None
        _chain(x, a, b, tanh).backward()

    def fwd():
        _chain(x, a, b, tanh)

    def nograd():
        with no_grad():
            _chain(x, a, b, tanh)

    return {"fwd_bwd": fwd_bwd, "fwd": fwd, "nograd": nograd}


def _gc_case():
    gc.manual_seed(0)
    return _autograd_case(lambda: gc.randn(*SHAPE, requires_grad=True), gc.no_grad, gc.tanh)


def _torch_case(torch):
    g = torch.Generator().manual_seed(0)
    return _autograd_case(lambda: torch.randn(*SHAPE, generator=g, requires_grad=True),
                          torch.no_grad, torch.tanh)


def _numpy_case():
    rng = np.random.default_rng(0)
    x, a, b = (rng.standard_normal(SHAPE).astype(np.float32) for _ in range(3))
    return {"nograd": lambda: _chain(x, a, b, np.tanh)}


def _kernel_call(s, torch):
    a, b, out = (gc.randn(*SHAPE).numpy() for _ in range(3))
    cands = {"gradcore": lambda: run(K.mul, a, b, out),
             "numpy": lambda: np.multiply(a, b, out=out)}
    if torch is not None:
        ta, tb, to = (torch.from_numpy(v) for v in (a, b, out))
        cands["torch"] = lambda: torch.mul(ta, tb, out=to)
    med, spread = s.time(cands)
    return H.finish({"workload": "tiny_kernel_call", "unit": "us_per_call"}, med, spread, 1e6)


def run_bench(s):
    torch = H.try_torch()
    gcs = _gc_case()
    ts = _torch_case(torch) if torch is not None else {}
    ns = _numpy_case()
    recs = []
    for mode in ("fwd_bwd", "fwd", "nograd"):
        cands = {"gradcore": gcs[mode]}
        if mode in ts:
            cands["torch"] = ts[mode]
        if mode in ns:
            cands["numpy"] = ns[mode]
        med, spread = s.time(cands)
        rec = {"workload": f"tiny_chain_{N_OPS}ops_{mode}", "unit": "us_per_op"}
        recs.append(H.finish(rec, med, spread, 1e6 / N_OPS))
    recs.append(_kernel_call(s, torch))
    return recs


def main(argv=None):
    return H.module_main(run_bench, "per-op overhead of a tiny 100-op chain", argv)


if __name__ == "__main__":
    main()
