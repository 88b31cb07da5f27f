"""Run every bench_<family>.py and print a Markdown ratio table per family at the end.

    python bench/run_all.py [--quick] [--reps N] [--threads N] [--only matmul,train] [--json F]
    python -m gradcore bench [same options]        (from the repository root)

stdout: one JSON line per workload (the modules' output), then the tables. A ratio is
other library's time / gradcore's time, i.e. how many times faster gradcore is (> 1: faster).
For numbers worth quoting, run on a quiet machine and unset the OpenBLAS overrides this
machine's environment may set (see bench/README.md).
"""
import argparse
import importlib
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

FAMILIES = ("matmul", "overhead", "elementwise", "train", "conv", "rnn")


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def table(records):
    """Markdown table of one family's records: a column per candidate, then the ratios."""
    if not records:
        return ""
    unit = records[0]["unit"]
    cands = []
    for r in records:
        for k in r:
            if k.endswith("_" + r["unit"]) and k[:-len(r["unit"]) - 1] not in cands:
                cands.append(k[:-len(r["unit"]) - 1])
    ratios = [k for k in ("ratio_vs_numpy", "ratio_vs_torch") if any(r.get(k) for r in records)]
    head = ["workload"] + [f"{c} ({unit})" for c in cands] + ratios + ["spread"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        row = [r["workload"]] + [_fmt(r.get(f"{c}_{r['unit']}")) for c in cands]
        row += [_fmt(r.get(k)) for k in ratios] + [_fmt(r.get("spread"))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _parse(argv):
    p = H.parser("gradcore benchmark suite: gradcore vs numpy and PyTorch")
    p.add_argument("--only", default=",".join(FAMILIES),
                   help=f"comma-separated families out of {', '.join(FAMILIES)}")
    p.add_argument("--json", default=None, help="also write every record to this file")
    if argv is None:
        argv = sys.argv[1:]
        if argv[:1] == ["bench"]:  # called as `python -m gradcore bench ...`
            argv = argv[1:]
    return p.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    families = [f.strip() for f in args.only.split(",") if f.strip()]
    for f in families:
        if f not in FAMILIES:
            raise SystemExit(f"run_all: unknown family {f!r}; choose from {', '.join(FAMILIES)}")
    limit = H.set_threads(args.threads) if args.threads else None  # noqa: F841 (kept alive)
    env = H.emit(H.environment())
    settings = H.Settings(args.quick, args.reps)
    results = {}
    for f in families:
        mod = importlib.import_module(f"bench.bench_{f}")
        results[f] = mod.run_bench(settings)
    if args.json:
        with open(args.json, "w") as fh:
            for r in [env] + [r for f in families for r in results[f]]:
                fh.write(json.dumps(r) + "\n")
    print(f"\n## gradcore benchmarks{' (--quick: smoke sizes, not for quoting)' if args.quick else ''}")
    print(f"threads: gradcore {env['gradcore_threads']}, torch {env['torch_threads']}, "
          f"numpy BLAS {env.get('numpy_blas_threads')} ({env.get('openblas_coretype')}); "
          f"load average {env['loadavg_1min']}; ratio = other time / gradcore time")
    if settings.gate is not None and settings.gate.ok:
        print(f"blocks redone because other processes used the CPU: {settings.gate.redone} "
              f"(waited {settings.gate.waited:.0f} s for quiet)")
    for f in families:
        print(f"\n### {f}\n")
        print(table(results[f]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
