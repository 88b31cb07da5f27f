"""What the runner prints: the machine line, the Markdown tables and the acceptance targets."""
import importlib.metadata
import importlib.util
import os
import platform
import sys

# The acceptance targets: (key, metric, record field, comparison, bound, label).
# ratio_* = torch's (numpy's) time / gradcore's, so ">=" bounds; the others are "<=".
TARGETS = [
    ("sgemm_1024", "eager vs numpy", "ratio_numpy", ">=", 1.0, "x"),
    ("sgemm_1024", "eager vs torch", "ratio_eager", ">=", 1.0, "x"),
    ("tiny_chain", "eager vs torch", "ratio_eager", ">=", 3.0, "x"),
    ("tiny_chain", "compiled vs torch", "ratio_compiled", ">=", 50.0, "x"),
    ("mlp_small", "compiled vs torch", "ratio_compiled", ">=", 10.0, "x"),
    ("mlp_mnist", "eager vs torch", "ratio_eager", ">=", 1.3, "x"),
    ("mlp_mnist", "compiled vs torch", "ratio_compiled", ">=", 1.8, "x"),
    ("mlp_mnist", "recording call of gc.compile", "record_ms", "<=", 50.0, " ms"),
    ("mlp_mnist", "peak RSS growth, eager / torch", "rss_vs_torch", "<=", 1.0, "x"),
    ("mlp_wide", "eager vs torch", "ratio_eager", ">=", 1.3, "x"),
    ("mlp_wide", "eager step / (FLOPs / sgemm rate, same process)", "step_vs_sgemm", "<=", 1.15,
     "x"),
    ("lenet", "compiled vs torch", "ratio_compiled", ">=", 1.5, "x"),
    ("rnn", "compiled vs torch", "ratio_compiled", ">=", 3.0, "x"),
    ("lstm", "compiled vs torch", "ratio_compiled", ">=", 3.0, "x"),
]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine(child_env, threads=None):
    """The "machine" record (the parent does not import torch: its version comes from the
    installed metadata; the thread counts each child really used are in its record)."""
    import numpy as np

    import gradcore as gc
    from ._harness import blas_info
    cfg = gc._C.config()
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count()
    torch = importlib.util.find_spec("torch") is not None
    return {"record": "machine", "cpu": _cpu_model(), "logical_cpus": os.cpu_count(),
            "cpus_available": avail, "simd_path": f"_C_{gc._C.variant}",
            "simd_flags": cfg.get("simd") or "baseline x86-64",
            "gradcore_threads": threads or gc.get_num_threads(),
            "gradcore_version": cfg.get("version"), "numpy_version": np.__version__,
            "torch_version": _version("torch") if torch else None,
            "python": sys.version.split()[0], **blas_info(),
            "OPENBLAS_CORETYPE": child_env.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": child_env.get("OPENBLAS_L2_SIZE"),
            "loadavg_start": [round(v, 2) for v in os.getloadavg()]}


def machine_line(m, recs):
    """One line: CPU, cores, SIMD path, threads and BLAS core type (as the first timing child
    reported them: --clean-env changes the children only)."""
    th = next((r["threads"] for r in recs if "threads" in r), {})
    blas = f"numpy BLAS {th.get('numpy_blas', m.get('numpy_blas_threads'))}"
    if m.get("numpy_blas"):
        core = th.get("numpy_blas_coretype", m.get("openblas_coretype")) or ""
        blas += f" ({m['numpy_blas']} {core})".replace(" )", ")")
    torch = f"torch {m['torch_version']}" if m["torch_version"] else "torch not installed"
    over = [f"{k}={m[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if m.get(k)]
    return (f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['cpus_available']} "
            f"available); SIMD path {m['simd_path']} ({m['simd_flags']}); threads: gradcore "
            f"{th.get('gradcore', m['gradcore_threads'])}, torch {th.get('torch', '-')}, {blas}; "
            f"gradcore {m['gradcore_version']}, {torch}, numpy {m['numpy_version']}; "
            f"OpenBLAS overrides: {', '.join(over) if over else 'none'}")


def _num(v, unit=""):
    if v is None:
        return "-"
    s = f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return s + unit


def _time(r, k):
    if f"{k}_ms" not in r:
        return "-"
    if r["kind"] == "chain":
        return _num(r[f"{k}_us_per_op"], " us/op")
    return _num(r[f"{k}_ms"], " ms")


def _table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def time_table(recs):
    head = ["workload", "gradcore", "compiled", "torch", "numpy", "torch/gradcore",
            "torch/compiled", "numpy/gradcore", "GFLOP/s gradcore", "GFLOP/s compiled",
            "GFLOP/s torch", "of sgemm rate (eager/compiled)", "spread"]
    rows = []
    for r in recs:
        if "error" in r:
            rows.append([r.get("workload", r["key"]), f"error: {r['error']}"] + ["-"] * 11)
            continue
        frac = "-"
        if r.get("sgemm_fraction_gradcore") is not None:
            frac = f"{r['sgemm_fraction_gradcore']:.2f}/{r.get('sgemm_fraction_compiled', 0):.2f}"
        rows.append([r["workload"]] + [_time(r, k) for k in ("gradcore", "compiled", "torch",
                                                             "numpy")]
                    + [_num(r.get(k), "x") for k in ("ratio_eager", "ratio_compiled",
                                                     "ratio_numpy")]
                    + [_num(r.get(f"{k}_gflops")) for k in ("gradcore", "compiled", "torch")]
                    + [frac, _num(r.get("spread")) + (f" ({r['attempts']} runs)"
                                                      if r.get("attempts", 1) > 1 else "")])
    return _table(head, rows)


def rss_table(recs):
    rows = []
    for r in recs:
        if r.get("rss"):
            cell = lambda d: "-" if not d or "peak_mb" not in d else \
                f"{d['peak_mb']:.0f} (+{d['delta_mb']:.0f})"  # noqa: E731
            rows.append([r["workload"]] + [cell(r["rss"].get(k)) for k in ("gradcore", "compiled",
                                                                          "torch")])
    return _table(["workload", "gradcore", "compiled", "torch"], rows) if rows else ""


def targets(recs, quick):
    """One "target" record per acceptance row whose workload ran."""
    by_key = {r["key"]: r for r in recs}
    out = []
    for key, metric, field, op, bound, unit in TARGETS:
        r = by_key.get(key)
        if r is None:
            continue
        v = r.get(field)
        met = None if v is None or quick else (v >= bound if op == ">=" else v <= bound)
        out.append({"record": "target", "key": key, "workload": r.get("workload", key),
                    "metric": metric, "field": field, "target": f"{op} {bound:g}{unit}",
                    "measured": v, "unit": unit.strip(), "met": met})
    return out


def target_table(tgts, quick):
    rows = []
    for t in tgts:
        met = "n/a (--quick)" if quick else "-" if t["met"] is None else \
            ("yes" if t["met"] else "**no**")
        rows.append([t["key"], t["metric"], t["target"],
                     _num(t["measured"], " " + t["unit"] if t["unit"] == "ms" else t["unit"]),
                     met])
    return _table(["workload", "metric", "target", "measured", "met?"], rows)
