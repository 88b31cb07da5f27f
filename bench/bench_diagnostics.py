"""Overhead of gc.diagnostics on a training step: the GradientMonitor (one grad_stats call +
numpy bookkeeping) and fit's non-finite watch (generator state saved per step), on the
MNIST-size MLP 784-512-512-10, batch 128, Adam.

    PYTHONPATH=python python bench/bench_diagnostics.py [--steps 300]

Variants are interleaved step by step in one process, in a shuffled order per round (the
machine is shared: load drifts). Reported per variant: the median wall time, the median CPU
time of the process (time.process_time: insensitive to waiting for a descheduled core, the
robust number on a loaded machine) and the median of the per-round paired differences to the
plain step.
"""
import argparse
import json
import math
import os
import time

import numpy as np

import gradcore as gc
from gradcore import nn
from gradcore.nn import functional as F


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        gc.set_num_threads(a.threads)
    gc.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    opt = gc.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = gc.tensor(rng.standard_normal((128, 784)).astype(np.float32))
    y = gc.tensor(rng.integers(0, 10, 128))
    mon = gc.diagnostics.GradientMonitor(model)
    mon0 = gc.diagnostics.GradientMonitor(model, update_ratio=False)

    def step(variant):
        c0 = time.process_time()
        t0 = time.perf_counter()
        if variant == "watch":
            state = gc.dispatch.get_rng_state()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        lv = loss.item()
        if variant == "monitor":
            mon.record()
            bad = mon.last_nonfinite()
        elif variant == "monitor_no_ratio":
            mon0.record()
        elif variant == "watch":
            bad = not math.isfinite(lv)
            assert state is not None and not bad
        opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    variants = ["plain", "monitor", "monitor_no_ratio", "watch"]
    times = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    order = np.random.default_rng(0)
    for i in range(a.steps + 20):
        order.shuffle(variants)
        for v in variants:
            dt, dc = step(v)
            if i >= 20:
                times[v].append(dt)
                cpu[v].append(dc)
    # the monitor's own cost, timed alone (record() only) for the same gradients
    rec = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        mon.record()
        rec.append(time.perf_counter() - t0)
    med = {v: float(np.median(t)) * 1e3 for v, t in times.items()}
    cmed = {v: float(np.median(t)) * 1e3 for v, t in cpu.items()}
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?"
    base, cbase = med["plain"], cmed["plain"]
    for v in ("plain", "monitor", "monitor_no_ratio", "watch"):
        paired = np.median(np.array(times[v]) - np.array(times["plain"])) * 1e3
        print(json.dumps({"workload": f"mlp_mnist_784-512-512-10_b128_adam_step_{v}",
                          "ms": round(med[v], 4), "cpu_ms": round(cmed[v], 4),
                          "overhead_pct": round(100 * (med[v] / base - 1), 2),
                          "cpu_overhead_pct": round(100 * (cmed[v] / cbase - 1), 2),
                          "paired_diff_pct": round(100 * paired / base, 2),
                          "threads": gc.get_num_threads(), "loadavg": load}))
    print(json.dumps({"workload": "monitor_record_alone_670k_params", "ms":
                      round(float(np.median(rec)) * 1e3, 4),
                      "pct_of_step": round(100 * float(np.median(rec)) * 1e3 / base, 2)}))


if __name__ == "__main__":
    main()
