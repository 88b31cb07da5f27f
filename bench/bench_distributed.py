"""Data-parallel cost: measured allreduce and DDP overhead, and the ring-allreduce model.

    mpiexec -n 2 python bench/bench_distributed.py           # communication on this machine
    python bench/bench_distributed.py --compute [--table]    # step compute times + the model

Under mpiexec (2+ ranks, one kernel thread per rank unless --threads):
    allreduce_<n>f           blocking MPI Allreduce (sum) of n float32, us per call
    allreduce_fit            least-squares T(S) = alpha + S / beta over the sweep
    ddp_sync_<model>         what DDP adds after backward: pack + Iallreduce + wait + scale
                             + unpack of the model's whole gradient, ms per step
    ddp_step_<model>_b<B>    one training step (zero_grad, forward, cross-entropy, backward,
                             Adam) plain vs DistributedDataParallel, alternated; overhead_ms =
                             median(ddp) - median(plain)
Without mpiexec (--compute, one kernel thread unless --threads: the unit is one core, as one
rank of the 2-rank run on this 2-core machine):
    compute_<model>          step time at several batch sizes (the fastest of --reps: other
                             processes share the cores) and the fit t(B) = a + b*B
    model_<model>_N<N>_<G>g  predicted step time and efficiency at N ranks on a G Gb/s network:
                             t_comm = 2(N-1)/N * bytes / bandwidth + 2(N-1) * alpha (ring),
                             t_step = t(B) + t_comm (no overlap), efficiency = t(B) / t_step,
                             crossover_batch = the per-rank B where t(B) = t_comm.
Every rank runs the same fixed iteration counts (a calibration loop would diverge across ranks
and deadlock the collectives); each number is the median of --reps repetitions of the slowest
rank's block.
"""
import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

gc, np = H.gc, H.np
MODELS = {"mnist_784-512-512-10": (784, 512, 512, 10),
          "wide_1024-4096-4096-1024": (1024, 4096, 4096, 1024)}
COMPUTE_BATCHES = {"mnist_784-512-512-10": (32, 128, 512),
                   "wide_1024-4096-4096-1024": (16, 64, 128)}
RANKS, NETWORKS_GBPS, ALPHA_US = (8, 64, 512), (25, 100), 5.0


def environment():
    """The harness's environment record without torch (not compared here; slow to import)."""
    cfg = gc._C.config()
    return {"workload": "environment", "gradcore_threads": gc.get_num_threads(),
            "gradcore_simd": cfg.get("simd_option"), "gradcore_version": cfg.get("version"),
            "numpy_version": np.__version__, "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0], "loadavg_1min": round(os.getloadavg()[0], 2)}


def mlp(dims):
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers += [gc.nn.Linear(a, b)] + ([gc.nn.ReLU()] if i < len(dims) - 2 else [])
    return gc.nn.Sequential(*layers)


def nparams(dims):
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def step_fn(model, params, batch, dims):
    opt = gc.optim.Adam(params, lr=1e-4)
    x = gc.randn(batch, dims[0])
    y = gc.randint(0, dims[-1], (batch,))

    def step():
        opt.zero_grad()
        gc.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


# ---- communication (under mpiexec) ----------------------------------------------------------
def timed(comm, fn, iters, reps):
    """Median over reps of the slowest rank's time per call (s)."""
    fn()
    out = []
    for _ in range(reps):
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        out.append(dt / iters)
    return statistics.median(out), out


def comm_main(args):
    from gradcore import distributed as dist
    comm, r, n = dist._comm, dist.rank(), dist.world_size()
    emit = H.emit if r == 0 else (lambda rec: rec)
    env = environment()
    env.update(ranks=n, threads_per_rank=gc.get_num_threads(), mpi=MPI.Get_library_version()
               .splitlines()[0].strip())
    emit(env)
    sizes = [1, 1024, 16384, 262144, nparams(MODELS["mnist_784-512-512-10"]), 4 << 20]
    if not args.quick:
        sizes.append(nparams(MODELS["wide_1024-4096-4096-1024"]))
    xs, ts = [], []
    for s in sizes:
        buf = np.ones(s, np.float32)
        iters = max(2, min(2000, int(2e7 // max(s, 4096)))) if not args.quick else 2
        med, _ = timed(comm, lambda: comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM), iters,
                       args.reps)
        emit({"workload": f"allreduce_{s}f", "bytes": 4 * s, "us": med * 1e6,
              "GBps_algbw": 4 * s / med / 1e9, "ranks": n})
        xs.append(4.0 * s)
        ts.append(med)
    # least squares on T = alpha + S / beta (relative weights: every size counts alike)
    A = np.stack([np.ones(len(xs)), np.array(xs)], 1) / np.array(ts)[:, None]
    alpha, inv_beta = np.linalg.lstsq(A, np.ones(len(xs)), rcond=None)[0]
    emit({"workload": "allreduce_fit", "alpha_us": alpha * 1e6, "beta_GBps": 1e-9 / inv_beta,
          "ranks": n})
    for name in (["mnist_784-512-512-10"] if args.quick else list(MODELS)):
        ddp_case(comm, emit, name, args)


def ddp_case(comm, emit, name, args):
    dims = MODELS[name]
    big = name.startswith("wide")
    gc.manual_seed(0)
    plain = mlp(dims)
    gc.manual_seed(0)
    wrapped = gc.distributed.DistributedDataParallel(mlp(dims))
    sync = wrapped._ddp
    # the sync alone: every bucket made ready as the last hook of a backward would
    step_fn(wrapped, list(wrapped.parameters()), 8, dims)()

    def sync_only():
        for b in sync.buckets:
            b.fired = len(b.params) - 1
            sync.on_grad(b)
    iters = 3 if big else 50
    med, _ = timed(comm, sync_only, 1 if args.quick else iters, args.reps)
    emit({"workload": f"ddp_sync_{name}", "ms": med * 1e3, "grad_MB": 4 * nparams(dims) / 1e6,
          "buckets": len(sync.buckets), "threads": gc.get_num_threads()})
    for batch in ((64,) if big else (64, 128)):
        steps = {"plain": step_fn(plain, list(plain.parameters()), batch, dims),
                 "ddp": step_fn(wrapped, list(wrapped.parameters()), batch, dims)}
        times = {k: [] for k in steps}
        iters = 1 if args.quick else (2 if big else 20)
        for rep in range(args.reps):   # alternate plain / ddp so noise hits both
            for k in (("plain", "ddp") if rep % 2 == 0 else ("ddp", "plain")):
                times[k].append(timed(comm, steps[k], iters, 1)[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        emit({"workload": f"ddp_step_{name}_b{batch}", "plain_ms": med["plain"] * 1e3,
              "ddp_ms": med["ddp"] * 1e3, "overhead_ms": (med["ddp"] - med["plain"]) * 1e3,
              "overhead_pct": 100 * (med["ddp"] / med["plain"] - 1),
              "threads": gc.get_num_threads()})


# ---- compute and the model (one process) ----------------------------------------------------
def compute_main(args):
    H.emit(environment())
    fits = {}
    for name, dims in MODELS.items():
        gc.manual_seed(0)
        model = mlp(dims)
        bs = COMPUTE_BATCHES[name][:2] if args.quick else COMPUTE_BATCHES[name]
        ts, spread = [], []
        iters = 1 if args.quick or name.startswith("wide") else 5
        for b in bs:
            step = step_fn(model, list(model.parameters()), b, dims)
            step()
            per = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                for _ in range(iters):
                    step()
                per.append((time.perf_counter() - t0) / iters)
            # the least disturbed repetition: other processes share these cores
            ts.append(min(per))
            spread.append(statistics.median(per) / min(per) - 1)
        slope, icept = np.polyfit(np.array(bs, float), np.array(ts), 1)
        fits[name] = (max(icept, 0.0), slope)
        H.emit({"workload": f"compute_{name}", "batches": list(bs),
                "step_ms": [t * 1e3 for t in ts], "fixed_ms": max(icept, 0.0) * 1e3,
                "per_sample_us": slope * 1e6, "median_over_min": max(spread),
                "threads": gc.get_num_threads()})
    for k in args.rank_speedup:
        rows = model_rows(fits, args.batch, args.alpha_us * 1e-6, k)
        for row in rows:
            H.emit(row)
        if args.table:
            print(markdown(rows, args.batch, args.alpha_us, k))


def model_rows(fits, batch, alpha, speedup=1.0):
    rows = []
    for name, (a, b) in fits.items():
        a, b = a / speedup, b / speedup
        nbytes = 4 * nparams(MODELS[name])
        t_comp = a + b * batch
        for gbps in NETWORKS_GBPS:
            bw = gbps * 1e9 / 8
            for n in RANKS:
                t_comm = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * alpha
                cross = (t_comm - a) / b if t_comm > a else None   # None: never dominates
                rows.append({"workload": f"model_{name}_N{n}_{gbps}g_x{speedup:g}",
                             "model": name, "ranks": n, "gbps": gbps, "batch_per_rank": batch,
                             "rank_speedup": speedup,
                             "compute_ms": t_comp * 1e3, "comm_ms": t_comm * 1e3,
                             "step_ms": (t_comp + t_comm) * 1e3,
                             "efficiency": t_comp / (t_comp + t_comm),
                             "efficiency_overlap": t_comp / max(t_comp, t_comm),
                             "crossover_batch": cross})
    return rows


def markdown(rows, batch, alpha_us, speedup):
    out = [f"per-rank batch {batch}, alpha {alpha_us:g} us per ring step, a rank computes "
           f"{speedup:g}x as fast as one core of this machine",
           "", "| model | network | ranks | compute ms | allreduce ms | step ms | efficiency "
           "| eff. (full overlap) | crossover batch/rank |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['model']} | {r['gbps']} Gb/s | {r['ranks']} | {r['compute_ms']:.2f} | "
                   f"{r['comm_ms']:.2f} | {r['step_ms']:.2f} | {r['efficiency']:.0%} | "
                   f"{r['efficiency_overlap']:.0%} | "
                   + ("never" if r["crossover_batch"] is None else
                      f"{r['crossover_batch']:.0f}") + " |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compute", action="store_true", help="one process: compute + model")
    p.add_argument("--quick", action="store_true", help="smoke sizes (numbers not for quoting)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=128, help="per-rank batch for the model")
    p.add_argument("--alpha-us", type=float, default=ALPHA_US,
                   help="network latency per ring step for the model")
    p.add_argument("--rank-speedup", type=float, nargs="+", default=[1.0, 16.0],
                   help="model a rank as this many times faster than one core (e.g. 16: a "
                        "16-core node at ideal scaling); one table each")
    p.add_argument("--table", action="store_true", help="also print the model as Markdown")
    args = p.parse_args(argv)
    if args.compute:   # one thread by default: a rank of the mpiexec runs = one core
        gc.set_num_threads(args.threads or 1)
        return compute_main(args)
    global MPI
    gc.distributed.init()
    from mpi4py import MPI
    gc.set_num_threads(args.threads or max(1, (os.cpu_count() or 1)
                                           // gc.distributed._local_size()))
    return comm_main(args)


MPI = None

if __name__ == "__main__":
    sys.exit(main())
