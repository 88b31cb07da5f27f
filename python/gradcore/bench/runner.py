"""``python -m gradcore bench``: every workload in its own child process, then the tables.

    python -m gradcore bench [--only KEYS] [--json PATH] [--quick] [--reps N] [--threads N]
                             [--clean-env] [--no-rss] [--retries N] [--max-spread S]

Each workload runs in ``python -m gradcore.bench.worker KEY`` (candidates timed alternately in
that one process; a run whose spread is above ``--max-spread`` is redone, at most
``--retries`` times, keeping the least noisy); each training workload then runs once more per
framework for its peak RSS (``--rss FRAMEWORK``), so peaks never mix. The parent prints the
machine line, the time/ratio table, the peak-RSS table and the acceptance targets, and writes
every record to ``--json`` (JSON lines: a "machine" record, one "workload" record per
workload, one "target" record per acceptance row). Progress goes to stderr.
"""
import argparse
import json
import os
import site
import subprocess
import sys
import time

from . import report as R
from . import workloads as W

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _parser():
    p = argparse.ArgumentParser(prog="python -m gradcore bench",
                                description="gradcore benchmark suite: gradcore eager and "
                                            "compiled vs PyTorch eager (and numpy for sgemm)")
    p.add_argument("--only", default=None,
                   help=f"comma-separated workloads ({', '.join(W.KEYS)}) or groups "
                        f"({', '.join(W.GROUPS)}); default: all")
    p.add_argument("--json", default=None, metavar="PATH", help="write every record (JSON lines)")
    p.add_argument("--quick", action="store_true",
                   help="smoke sizes and short blocks, seconds per workload (not for quoting)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 7, quick 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for gradcore, torch and numpy's BLAS (default: gradcore's)")
    p.add_argument("--clean-env", action="store_true",
                   help="unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the children (numpy's "
                        "default OpenBLAS kernels)")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs")
    p.add_argument("--rss-steps", type=int, default=None, help="steps per RSS run (default 20)")
    p.add_argument("--max-wait", type=float, default=120.0,
                   help="seconds the load gate may wait for a quiet machine, in all")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    p.add_argument("--retries", type=int, default=2,
                   help="rerun a workload whose spread is above --max-spread this many times "
                        "and keep its least noisy run (not under --quick)")
    p.add_argument("--max-spread", type=float, default=0.3,
                   help="the spread ((p75 - p25) / median) above which a run counts as noisy")
    return p


def _timed_run(argv, env, args):
    """One workload's timing child, rerun (``--retries``) while its spread is above
    ``--max-spread``: a whole process can land in a slow period of a shared host that no load
    gate inside the machine sees. The run with the least spread is kept, with ``attempts``."""
    best, n = None, 0
    while True:
        rec = run_child(argv, env, args.timeout)
        n += 1
        if best is None or "error" in best or rec.get("spread", 1e9) < best.get("spread", 1e9):
            best = rec
        if "error" in rec or args.quick or n > args.retries or \
                rec.get("spread", 0.0) <= args.max_spread:
            break
        print(f" (spread {rec.get('spread', 0):.2f}, again)", end="", file=sys.stderr, flush=True)
    best["attempts"] = n
    return best


def child_env(clean):
    """The children's environment: this gradcore first on the path; OpenBLAS overrides dropped
    with ``--clean-env``."""
    import gradcore
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(gradcore.__file__)))
    if root not in site.getsitepackages() + [site.getusersitepackages()]:  # a checkout's python/
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "")
                                                      .split(os.pathsep) if p])
    if clean:
        for k in OPENBLAS_OVERRIDES:
            env.pop(k, None)
    return env


def run_child(argv, env, timeout):
    """Run the worker; its last JSON line, or {"error": ...}."""
    cmd = [sys.executable, "-m", "gradcore.bench.worker"] + argv
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [s for s in r.stdout.splitlines() if s.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {r.returncode}: {tail}"}
    return json.loads(lines[-1])


def _common(args):
    out = ["--quick"] if args.quick else []
    if args.reps is not None:
        out += ["--reps", str(args.reps)]
    if args.threads is not None:
        out += ["--threads", str(args.threads)]
    return out


def _derive(recs, ref_gflops):
    """Fraction of the sgemm rate for dense workloads, the RSS ratio, the step bound."""
    for r in recs:
        if r.get("flops") and ref_gflops:
            for k in ("gradcore", "compiled", "torch"):
                if f"{k}_gflops" in r:
                    r[f"sgemm_fraction_{k}"] = r[f"{k}_gflops"] / ref_gflops
            if r.get("gradcore_ms"):   # step time / (FLOPs at the sgemm rate)
                rate = r.get("sgemm_ref_local_gflops") or ref_gflops   # the same process's
                r["step_vs_sgemm"] = r["gradcore_ms"] / (r["flops"] / rate / 1e6)
            r["sgemm_ref_gflops"] = ref_gflops
        rss = r.get("rss") or {}
        g, t = rss.get("gradcore", {}), rss.get("torch", {})
        if g.get("delta_mb") and t.get("delta_mb"):
            r["rss_vs_torch"] = g["delta_mb"] / t["delta_mb"]


def main(argv=None):
    args = _parser().parse_args(argv)
    keys = W.select(args.only)
    env = child_env(args.clean_env)
    mach = R.machine(env, args.threads)
    has_torch = mach["torch_version"] is not None
    common, budget, recs = _common(args), args.max_wait, []
    steps = args.rss_steps or (3 if args.quick else 20)
    t_start = time.perf_counter()
    for i, key in enumerate(keys):
        t0 = time.perf_counter()
        print(f"[{i + 1}/{len(keys)}] {key} ...", end="", file=sys.stderr, flush=True)
        share = max(budget, 0.0) / (len(keys) - i)   # the gate's budget, spread evenly
        rec = _timed_run([key] + common + ["--max-wait", f"{share:.0f}"], env, args)
        rec.setdefault("key", key)
        rec.setdefault("kind", W.kind(key))
        rec.setdefault("record", "workload")
        budget -= rec.get("gate_waited_s", 0.0)
        if W.kind(key) == "train" and not args.no_rss and "error" not in rec:
            fws = ["gradcore", "compiled"] + (["torch"] if has_torch else [])
            rec["rss"] = {fw: run_child([key, "--rss", fw, "--steps", str(steps)] + common,
                                        env, args.timeout) for fw in fws}
        recs.append(rec)
        print(f" {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    ref = next((r.get("gradcore_gflops") for r in recs if r["key"] == "sgemm_1024"), None)
    if ref is None and any(r.get("flops") for r in recs):   # the rate dense rows are put against
        sg = run_child(["sgemm_1024", "--frameworks", "gradcore"] + common, env, args.timeout)
        ref = sg.get("gradcore_gflops")
    _derive(recs, ref)
    mach["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    mach["wall_s"] = round(time.perf_counter() - t_start, 1)
    tgts = R.targets(recs, args.quick)
    _print(mach, recs, tgts, ref, args)
    if args.json:
        with open(args.json, "w") as fh:
            for r in [mach] + recs + tgts:
                fh.write(json.dumps(r) + "\n")
    return 1 if any("error" in r for r in recs) else 0


def _print(mach, recs, tgts, ref, args):
    quick = " (--quick: smoke sizes, not for quoting)" if args.quick else ""
    print(f"\n## gradcore benchmarks{quick}\n")
    print(R.machine_line(mach, recs))
    waited = sum(r.get("gate_waited_s", 0) for r in recs)
    redone = sum(r.get("gate_redone", 0) for r in recs)
    print(f"load average {mach['loadavg_start'][0]} at start, {mach['loadavg_end'][0]} at end; "
          f"blocks redone for other processes' load: {redone} (waited {waited:.0f} s); "
          f"wall {mach['wall_s']:.0f} s")
    print("\nmedian time per call/step (alternating in one process per workload); "
          "torch/gradcore = how many times faster gradcore is"
          + (f"; sgemm rate = gradcore sgemm 1024, {ref:.0f} GFLOP/s" if ref else "") + "\n")
    print(R.time_table(recs))
    rss = R.rss_table(recs)
    if rss:
        print("\npeak RSS in MB: VmHWM of a child running 1 framework for "
              f"{args.rss_steps or (3 if args.quick else 20)} steps "
              "(+growth above its RSS after imports)\n")
        print(rss)
    if tgts:
        print("\nacceptance targets (issue #11)\n")
        print(R.target_table(tgts, args.quick))


if __name__ == "__main__":
    sys.exit(main())
