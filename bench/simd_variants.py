"""sgemm GFLOP/s of the extension built with different GRADCORE_SIMD flags, timed alternately.

Each variant is built from ``git archive HEAD`` in its own /tmp tree (the CMakeLists writes the
.so next to that tree's Python sources, so the checkout's python/gradcore/_C*.so is never
touched), under the shared build lock. Both builds are then loaded into ONE process under
different module names and their gemm kernels timed alternately, next to numpy.

    python bench/simd_variants.py [--variants avx2,native] [--sizes 1024,2048] [--no-build]
"""
import argparse
import glob
import importlib.util
import os
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness as H  # noqa: E402

np = H.np
WORK = "/tmp/gc-simd"


def build(variant, root=H._ROOT):
    """Configure + build variant ``variant`` under /tmp; return the path of its .so."""
    src, bld = f"{WORK}/{variant}/src", f"{WORK}/{variant}/build"
    os.makedirs(src, exist_ok=True)
    pyb = subprocess.check_output([sys.executable, "-m", "pybind11", "--cmakedir"], text=True)
    script = (f"git -C {root} archive HEAD | tar -x -C {src} && "
              f"cmake -S {src} -B {bld} -G Ninja -DGRADCORE_SIMD={variant} "
              f"-Dpybind11_DIR={pyb.strip()} > {bld}.log && ninja -C {bld} >> {bld}.log")
    subprocess.run(["flock", "/tmp/gc-build.lock", "sh", "-c", script], check=True)
    return _so(variant)


def _so(variant):
    (path,) = glob.glob(f"{WORK}/{variant}/src/python/gradcore/_C*.so")
    return path


def load(variant, path):
    """Import the extension at ``path`` as module gc_<variant>._C (the init symbol is PyInit__C)."""
    spec = importlib.util.spec_from_file_location(f"gc_{variant}._C", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="avx2,native")
    p.add_argument("--sizes", default="1024,2048")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--no-build", action="store_true", help="reuse the builds under /tmp/gc-simd")
    args = p.parse_args(argv)
    variants = args.variants.split(",")
    mods = {v: load(v, _so(v) if args.no_build else build(v)) for v in variants}
    H.emit(H.environment())
    for v, m in mods.items():
        H.emit({"workload": f"build_{v}", "simd": m.config()["simd"],
                "simd_option": m.config()["simd_option"]})
    s = H.Settings(reps=args.reps)
    for n in (int(x) for x in args.sizes.split(",")):
        rng = np.random.default_rng(n)
        a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
        out = np.empty((n, n), np.float32)
        cands = {}
        for v, m in mods.items():
            kid = m.kernel_names().index("gemm")
            m.set_num_threads(H.gc.get_num_threads())
            cands[v] = (lambda m=m, kid=kid: m.run(kid, a, b, out, 0, 0))
        cands["numpy"] = lambda: np.matmul(a, b, out=out)
        med, spread = s.time(cands, target_s=0.2)
        rec = {"workload": f"sgemm_{n}_simd", "unit": "gflops"}
        for k, t in med.items():
            rec[f"{k}_gflops"] = 2.0 * n ** 3 / t / 1e9
        rec["threads"] = H.gc.get_num_threads()
        rec["spread"] = max(spread.values())
        H.emit(rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
