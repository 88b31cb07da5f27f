"""One workload in its own process (the runner starts one per workload, so peaks and caches of
one workload never leak into the next):

    python -m gradcore.bench.worker KEY [--quick] [--reps N] [--threads N] [--max-wait S]
        times the candidates alternately and prints one JSON line (a "workload" record)
    python -m gradcore.bench.worker KEY --rss FRAMEWORK [--steps N]
        runs N training steps of ONE framework (gradcore, compiled or torch) and prints its peak
        resident set size (an "rss" record)

Times are medians in milliseconds per call or step; ratio_* = torch's (numpy's) time / gradcore's.
"""
import argparse
import json
import os
import statistics
import sys
import time

FRAMEWORKS = ("gradcore", "compiled", "torch", "numpy")
REF = "sgemm_ref"   # the candidate that measures the step bound's sgemm rate (W.STEP_BOUND)


def status_mb(field):
    """``VmHWM`` (peak resident set) or ``VmRSS`` of this process in MB, from /proc/self/status;
    off Linux, ru_maxrss for both."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def _parser():
    p = argparse.ArgumentParser(prog="python -m gradcore.bench.worker",
                                description="time one benchmark workload (one JSON line)")
    p.add_argument("key")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-wait", type=float, default=300.0,
                   help="seconds the load gate may wait for a quiet machine")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="candidates to time (comma-separated)")
    p.add_argument("--rss", choices=FRAMEWORKS[:3], default=None,
                   help="measure this framework's peak RSS over --steps training steps")
    p.add_argument("--steps", type=int, default=20)
    return p


def _rounded(v):
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return round(v, 6) if isinstance(v, float) else v


def _threads(gc, torch):
    from ._harness import blas_info
    blas = blas_info()
    return {"gradcore": gc.get_num_threads(),
            "torch": torch.get_num_threads() if torch is not None else None,
            "numpy_blas": blas.get("numpy_blas_threads"),
            "numpy_blas_coretype": blas.get("openblas_coretype")}


def rss(args):
    """Peak RSS of ``args.steps`` steps of one framework; the baseline is VmRSS after importing
    it (and gradcore + numpy, which this module always loads) and before building the model."""
    import gradcore as gc
    from . import workloads as W
    torch = None
    if args.rss == "torch":
        import torch
        torch.set_num_threads(gc.get_num_threads())
    if args.threads:
        gc.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    base = status_mb("VmRSS")
    spec = W.train_spec(args.key, args.quick)
    cands, _ = W.train_candidates(gc, torch, spec, [args.rss], same_init=False)
    if args.rss not in cands:
        return {"record": "rss", "key": args.key, "framework": args.rss, "error": "unavailable"}
    for _ in range(args.steps):
        cands[args.rss]()
    peak = status_mb("VmHWM")
    return {"record": "rss", "key": args.key, "framework": args.rss, "steps": args.steps,
            "peak_mb": peak, "baseline_mb": base, "delta_mb": peak - base}


def _recording(gc, spec, reps, gate):
    """Wall time of the recording call of a fresh ``gc.compile`` of the step (the 2nd call; the
    1st runs eagerly), each on a fresh model: the first in this process and the median. A
    recording disturbed by other processes (``gate``) is redone, at most 3 times."""
    from . import models as M
    times = []
    for _ in range(reps):
        for attempt in range(4):
            gc.manual_seed(1)
            step, x, y = M.setup(gc, gc.tensor, spec.build, None, spec.loss, spec.opt, spec.x,
                                 spec.y)
            comp = gc.compile(step)
            comp(x, y)
            snap = gate.snapshot() if gate is not None and gate.ok else None
            t0 = time.perf_counter()
            comp(x, y)
            dt = time.perf_counter() - t0
            if snap is None or gate.foreign(snap) <= gate.max_foreign or attempt == 3:
                break
            gate.redone += 1
            gate.wait_idle()
        times.append(dt)
    return {"record_first_ms": times[0] * 1e3, "record_ms": statistics.median(times) * 1e3}


def measure(args):
    import gradcore as gc
    from . import _harness as H
    from . import workloads as W
    fws = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    torch = H.try_torch() if "torch" in fws else None
    limit = H.set_threads(args.threads) if args.threads else None  # noqa: F841 (kept alive)
    s = H.Settings(args.quick, args.reps, max_wait_s=args.max_wait)
    kind = W.kind(args.key)
    rec = {"record": "workload", "key": args.key, "kind": kind, "quick": args.quick}
    long_block = s.target_s * 4
    if kind == "sgemm":
        n = (W.SGEMM_QUICK if args.quick else W.SGEMM)[args.key]
        rec.update(workload=f"sgemm_{n}", flops=2.0 * n ** 3)
        med, spread = s.time(W.sgemm_candidates(gc, torch, n, fws), target_s=long_block)
    elif kind == "chain":
        rec.update(workload=f"tiny_chain_{W.CHAIN_OPS}ops_8x8_fwd_bwd", flops=None,
                   ops=W.CHAIN_OPS)
        med, spread = s.time(W.chain_candidates(gc, torch, fws))
    else:
        spec = W.train_spec(args.key, args.quick)
        rec.update(workload=spec.name, flops=spec.flops)
        if "compiled" in fws:   # first: a fresh process, as a user's first gc.compile meets it
            rec.update(_recording(gc, spec, 2 if args.quick else 5, s.gate))
        cands, loss0 = W.train_candidates(gc, torch, spec, fws)
        rec.update({f"loss0_{k}": v for k, v in loss0.items()})
        n_ref = W.STEP_BOUND.get(args.key)
        if n_ref and "gradcore" in cands and not args.quick:
            # The step bound's sgemm rate, timed alternately with the steps in this process, so
            # a slow period of the host slows the rate and the step alike.
            cands[REF] = W.sgemm_candidates(gc, None, n_ref, ["gradcore"])["gradcore"]
        med, spread = s.time(cands, target_s=long_block)
        if REF in med:
            rec["sgemm_ref_local_gflops"] = 2.0 * n_ref ** 3 / med.pop(REF) / 1e9
    for k, v in med.items():
        rec[f"{k}_ms"] = v * 1e3
        if rec.get("flops"):
            rec[f"{k}_gflops"] = rec["flops"] / v / 1e9
        if kind == "chain":
            rec[f"{k}_us_per_op"] = v * 1e6 / W.CHAIN_OPS
    g = med.get("gradcore")
    rec["ratio_eager"] = H.ratio(med.get("torch"), g)
    rec["ratio_compiled"] = H.ratio(med.get("torch"), med.get("compiled"))
    if "numpy" in med:
        rec["ratio_numpy"] = H.ratio(med["numpy"], g)
    if "record_ms" in rec and g:
        rec["record_overhead_ms"] = rec["record_ms"] - g * 1e3
    rec.update(reps=s.reps, spread=max(spread.values()), spreads=spread,
               threads=_threads(gc, torch), simd=gc._C.variant,
               loadavg_1min=round(os.getloadavg()[0], 2))
    if s.gate is not None and s.gate.ok:
        rec.update(gate_redone=s.gate.redone, gate_waited_s=s.gate.waited)
    return rec


def main(argv=None):
    args = _parser().parse_args(argv)
    rec = rss(args) if args.rss else measure(args)
    print(json.dumps(_rounded(rec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
