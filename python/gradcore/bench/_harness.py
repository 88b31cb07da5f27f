"""Timing helpers of the benchmark suite (gradcore.bench) and the bench/ dev scripts.

Every workload times its candidates (gradcore, numpy, PyTorch, ...) ALTERNATELY in one process:
each repetition runs every candidate once, in an order rotated per repetition, so a noisy
neighbour slows all candidates alike instead of whichever happened to run during the noise.
A candidate's number is the median over repetitions of (block time / calls in the block), where
the block size is calibrated once so one block lasts about ``target_s``.
"""
import argparse
import gc as _pygc
import json
import os
import statistics
import sys
import time

import numpy as np

import gradcore as gc


def try_torch():
    """PyTorch if importable (it is optional), with its threads set to gradcore's."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(gc.get_num_threads())
    return torch


def blas_info():
    """numpy's BLAS as threadpoolctl reports it (threads, OpenBLAS core type), or {}."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    for d in threadpool_info():
        if d.get("user_api") == "blas":
            return {"numpy_blas": d.get("internal_api"), "numpy_blas_threads": d.get("num_threads"),
                    "openblas_coretype": d.get("architecture"), "blas_version": d.get("version")}
    return {}


def set_threads(n):
    """Use ``n`` threads in gradcore, torch and (through threadpoolctl) numpy's BLAS."""
    gc.set_num_threads(n)
    torch = try_torch()
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(n, user_api="blas")  # keep the handle alive while benchmarking


def environment():
    """One record describing what the numbers were measured with."""
    torch = try_torch()
    cfg = gc._C.config()
    env = {"workload": "environment", "gradcore_threads": gc.get_num_threads(),
           "torch_threads": torch.get_num_threads() if torch is not None else None,
           "gradcore_simd": cfg.get("simd_option"), "gradcore_version": cfg.get("version"),
           "numpy_version": np.__version__,
           "torch_version": torch.__version__ if torch is not None else None,
           "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
           "loadavg_1min": round(os.getloadavg()[0], 2)}
    env.update(blas_info())
    env["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    env["OPENBLAS_L2_SIZE"] = os.environ.get("OPENBLAS_L2_SIZE")
    return env


def emit(record, out=None):
    """Print one workload as a JSON line (the only thing bench modules print on stdout)."""
    rec = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}
    print(json.dumps(rec), file=out or sys.stdout, flush=True)
    return rec


def finish(rec, med, spread, scale):
    """Complete and print a timing record: each candidate's median (seconds) times ``scale`` in
    ``rec["unit"]``, gradcore's ratio against torch (None when torch is absent) and numpy (when
    timed), the thread count and the noisiest candidate's spread."""
    for k, v in med.items():
        rec[f"{k}_{rec['unit']}"] = v * scale
    if "numpy" in med:
        rec["ratio_vs_numpy"] = ratio(med["numpy"], med["gradcore"])
    rec["ratio_vs_torch"] = ratio(med.get("torch"), med["gradcore"])
    rec["threads"] = gc.get_num_threads()
    rec["spread"] = max(spread.values())
    return emit(rec)


def _block(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def _calibrate(fn, target_s):
    n = 1
    while True:
        dt = _block(fn, n)
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


class LoadGate:
    """Detects blocks during which OTHER processes used the CPU, from /proc/stat (Linux).

    foreign = (CPU time all processes were busy, steal included) - (this process's CPU time),
    as a fraction of wall time x cores. A block above ``max_foreign`` is thrown away and, after
    waiting (at most ``max_wait_s`` in all) until the machine is idle, timed again.
    """

    def __init__(self, max_foreign=0.1, max_wait_s=300.0):
        self.max_foreign, self.max_wait_s = max_foreign, max_wait_s
        self.ncpu = os.cpu_count() or 1
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ok = self._busy() is not None
        self.waited = 0.0
        self.redone = 0

    def _busy(self):
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return (sum(v[:8]) - v[3] - v[4]) / self.tick  # all but idle and iowait

    def snapshot(self):
        return (time.perf_counter(), self._busy(), time.process_time())

    def foreign(self, snap):
        t, busy, cpu = snap
        dt = time.perf_counter() - t
        other = (self._busy() - busy) - (time.process_time() - cpu)
        # /proc/stat counts in ticks (10 ms): forgive 2 ticks of rounding.
        return max(other - 2.0 / self.tick, 0.0) / max(dt * self.ncpu, 1e-9)

    def wait_idle(self, max_each_s=10.0):
        """Sleep until a 1 s window is idle, at most ``max_each_s`` (on a machine that stays
        busy one block must not spend the whole budget) and within the run's budget."""
        end = self.waited + max_each_s
        while self.waited < min(self.max_wait_s, end):
            snap = self.snapshot()
            time.sleep(1.0)
            self.waited += 1.0
            if self.foreign(snap) < self.max_foreign / 2:
                return


def interleaved(candidates, reps=7, warmup=1, target_s=0.05, pause_s=0.0, gate=None):
    """Median seconds per call of each candidate, timed alternately.

    ``candidates`` maps a name to ``fn`` or ``(fn, before, after)``: ``before``/``after`` run
    around each timed block, untimed (e.g. switching the thread count). Returns
    ``({name: median_s}, {name: spread})``, spread = (p75 - p25) / median of the repetitions.
    ``pause_s``: idle time before each block. OpenBLAS workers spin ~0.1 s after a call and
    OpenMP workers a while too; on 2 cores a spinning pool of the PREVIOUS candidate steals a
    core from the next one, so without the pause each library is timed against another's
    spinners instead of alone. ``gate``: a LoadGate that redoes blocks disturbed by others.
    """
    norm = {k: (v if isinstance(v, tuple) else (v, None, None)) for k, v in candidates.items()}
    names = list(norm)
    calls = {}
    for k in names:
        fn, before, after = norm[k]
        if before:
            before()
        if pause_s:
            time.sleep(pause_s)
        for _ in range(warmup):
            fn()
        calls[k] = _calibrate(fn, target_s)
        if after:
            after()
    times = {k: [] for k in names}
    _pygc.collect()
    for r in range(max(reps, 1)):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            times[k].append(_timed_block(norm[k], calls[k], pause_s, gate))
    med = {k: statistics.median(v) for k, v in times.items()}
    spread = {}
    for k, v in times.items():
        q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0]] * 3
        spread[k] = (q[2] - q[0]) / med[k] if med[k] > 0 else 0.0
    return med, spread


def _timed_block(cand, n, pause_s, gate):
    fn, before, after = cand
    for attempt in range(4):
        if before:
            before()
        if pause_s:
            time.sleep(pause_s)
        snap = gate.snapshot() if gate is not None and gate.ok else None
        dt = _block(fn, n) / n
        if after:
            after()
        if snap is None or gate.foreign(snap) <= gate.max_foreign or attempt == 3:
            return dt
        gate.redone += 1
        gate.wait_idle()
    return dt


def ratio(other, mine):
    """How many times faster gradcore is: other's time / gradcore's time (None if missing)."""
    if other is None or mine is None or mine <= 0:
        return None
    return other / mine


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes and short blocks (smoke test)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 7, quick 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for gradcore, torch and numpy's BLAS (default: gradcore's)")
    return p


class Settings:
    """What a bench module's ``run`` needs: sizes mode, repetitions, block length."""

    def __init__(self, quick=False, reps=None, max_wait_s=300.0):
        self.quick = quick
        self.reps = reps if reps is not None else (5 if quick else 7)
        self.target_s = 0.002 if quick else 0.05
        self.warmup = 1 if quick else 2
        self.pause_s = 0.0 if quick else 0.15
        self.gate = None if quick else LoadGate(max_wait_s=max_wait_s)

    def time(self, candidates, target_s=None):
        return interleaved(candidates, reps=self.reps, warmup=self.warmup,
                           target_s=self.target_s if target_s is None else target_s,
                           pause_s=self.pause_s, gate=self.gate)


def module_main(run, description, argv=None):
    """Shared ``main`` of the bench modules: parse, fix threads, print environment, run."""
    args = parser(description).parse_args(argv)
    limit = set_threads(args.threads) if args.threads else None  # noqa: F841 (kept alive)
    emit(environment())
    return run(Settings(args.quick, args.reps))
