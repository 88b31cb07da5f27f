"""sgemm GFLOP/s: gradcore (tensor API and the raw gemm kernel) vs numpy and PyTorch.

Workloads: C = A @ B, float32 square n x n, and the transposed products the backward pass runs
(dB = A^T @ dC and dA = dC @ B^T) read in place. GFLOP/s = 2 n^3 / seconds / 1e9.
``gradcore`` is ``gc.matmul`` on tensors (allocates its output, Python dispatch included);
``gradcore_kernel`` is ``run(K.gemm, a, b, out, transA, transB)`` into a preallocated output,
so the difference is the per-call overhead. numpy and torch also write into ``out=``.
All candidates read the same memory (torch via ``from_numpy``).

    python bench/bench_matmul.py [--quick] [--reps N] [--threads N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np
from gradcore.dispatch import K, run  # noqa: E402


def _cases(quick):
    if quick:
        return [(32, 0, 0), (64, 0, 0), (64, 1, 0), (64, 0, 1)]
    return [(256, 0, 0), (1024, 0, 0), (2048, 0, 0), (1024, 1, 0), (1024, 0, 1)]


def _name(n, ta, tb):
    return f"sgemm_{n}" + ("_AtB" if ta else "") + ("_ABt" if tb else "")


def bench_case(s, n, ta, tb, torch):
    gc.manual_seed(n)
    a_t, b_t = gc.randn(n, n), gc.randn(n, n)
    a, b = a_t.numpy(), b_t.numpy()
    out = gc.empty(n, n).numpy()
    # Python-level operands of the product: op(A) and op(B) as the callers see them.
    an, bn = (a.T if ta else a), (b.T if tb else b)
    at_, bt_ = (a_t.T if ta else a_t), (b_t.T if tb else b_t)
    cands = {"gradcore_kernel": lambda: run(K.gemm, a, b, out, ta, tb),
             "numpy": lambda: np.matmul(an, bn, out=out)}
    if not (ta or tb):
        # gc.matmul on a transposed tensor would time a transpose copy, not the backward gemm.
        cands["gradcore"] = lambda: gc.matmul(at_, bt_)
    if torch is not None:
        ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
        opa, opb = (ta_.t() if ta else ta_), (tb_.t() if tb else tb_)
        tout = torch.from_numpy(out)
        cands["torch"] = lambda: torch.mm(opa, opb, out=tout)
    med, spread = s.time(cands, target_s=s.target_s * 4)
    flop = 2.0 * n ** 3
    rec = {"workload": _name(n, ta, tb), "unit": "gflops"}
    for k in ("gradcore", "gradcore_kernel", "numpy", "torch"):
        if k in med:
            rec[f"{k}_gflops"] = flop / med[k] / 1e9
    base = med.get("gradcore", med["gradcore_kernel"])
    rec["ratio_vs_numpy"] = H.ratio(med["numpy"], base)
    rec["ratio_vs_torch"] = H.ratio(med.get("torch"), base)
    rec["threads"] = gc.get_num_threads()
    rec["spread"] = max(spread.values())
    return H.emit(rec)


def run_bench(s):
    torch = H.try_torch()
    return [bench_case(s, n, ta, tb, torch) for n, ta, tb in _cases(s.quick)]


def main(argv=None):
    return H.module_main(run_bench, "sgemm GFLOP/s vs numpy and torch", argv)


if __name__ == "__main__":
    main()
