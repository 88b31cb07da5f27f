"""Elementwise and reduction throughput: add, mul, relu, sum on 1e3 .. 1e7 float32 elements.

Candidates per workload:
    gradcore            the tensor API (gc.add(x, y), ...: allocates the output)
    gradcore_kernel     run(K.<kernel>, ..., out) into a preallocated output, current threads
    gradcore_kernel_1t  the same with gc.set_num_threads(1): where it beats the line above, the
                        OpenMP threshold (kParallelMin in csrc/kernels/broadcast.h) is too low
    numpy / torch       out= where the library has it (torch relu: clamp_min(out=))
GB/s counts bytes read + written once (add/mul 12 B, relu 8 B, sum 4 B per element).
ratio_vs_numpy / ratio_vs_torch compare gradcore_kernel (out=) with numpy / torch (out=):
other time / gradcore time, > 1 means gradcore is faster.

    python bench/bench_elementwise.py [--quick] [--reps N]
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np
from gradcore.dispatch import K, run  # noqa: E402

BYTES_PER_ELEM = {"add": 12, "mul": 12, "relu": 8, "sum": 4}


def _sizes(quick):
    return [1000, 100_000] if quick else [1000, 10_000, 100_000, 1_000_000, 10_000_000]


def _label(n):
    e = len(str(n)) - 1
    return f"1e{e}" if n == 10 ** e else str(n)


def _candidates(op, n, torch):
    x_t, y_t = gc.randn(n), gc.randn(n)
    x, y = x_t.numpy(), y_t.numpy()
    out = gc.empty(n).numpy()
    s_out = gc.empty(1).numpy()
    if op == "add":
        c = {"gradcore": lambda: gc.add(x_t, y_t), "gradcore_kernel": lambda: run(K.add, x, y, out),
             "numpy": lambda: np.add(x, y, out=out)}
    elif op == "mul":
        c = {"gradcore": lambda: gc.mul(x_t, y_t), "gradcore_kernel": lambda: run(K.mul, x, y, out),
             "numpy": lambda: np.multiply(x, y, out=out)}
    elif op == "relu":
        c = {"gradcore": lambda: gc.relu(x_t), "gradcore_kernel": lambda: run(K.relu, x, out),
             "numpy": lambda: np.maximum(x, 0.0, out=out)}
    else:  # sum over every element into a 1-element output
        c = {"gradcore": lambda: gc.sum(x_t), "gradcore_kernel": lambda: run(K.sum_to, x, s_out, 1.0),
             "numpy": lambda: np.sum(x)}
    threads = gc.get_num_threads()
    if threads > 1:
        c["gradcore_kernel_1t"] = (c["gradcore_kernel"], lambda: gc.set_num_threads(1),
                                   lambda: gc.set_num_threads(threads))
    if torch is not None:
        tx, ty, to = (torch.from_numpy(v) for v in (x, y, out))
        c["torch"] = {"add": lambda: torch.add(tx, ty, out=to),
                      "mul": lambda: torch.mul(tx, ty, out=to),
                      "relu": lambda: torch.clamp_min(tx, 0.0, out=to),
                      "sum": lambda: torch.sum(tx)}[op]
    return c


def run_bench(s):
    torch = H.try_torch()
    recs = []
    for n in _sizes(s.quick):
        for op in ("add", "mul", "relu", "sum"):
            med, spread = s.time(_candidates(op, n, torch))
            rec = {"workload": f"{op}_{_label(n)}", "unit": "us"}
            for k, v in med.items():
                rec[f"{k}_us"] = v * 1e6
            rec["gradcore_kernel_gbps"] = BYTES_PER_ELEM[op] * n / med["gradcore_kernel"] / 1e9
            rec["numpy_gbps"] = BYTES_PER_ELEM[op] * n / med["numpy"] / 1e9
            rec["ratio_vs_numpy"] = H.ratio(med["numpy"], med["gradcore_kernel"])
            rec["ratio_vs_torch"] = H.ratio(med.get("torch"), med["gradcore_kernel"])
            rec["threads"] = gc.get_num_threads()
            rec["spread"] = max(spread.values())
            recs.append(H.emit(rec))
    return recs


def main(argv=None):
    return H.module_main(run_bench, "elementwise/reduction throughput vs numpy and torch", argv)


if __name__ == "__main__":
    main()
