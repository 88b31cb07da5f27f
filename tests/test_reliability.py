"""Reliability: one test per item of the reliability issue (crash, hang, wrong answer, memory,
thread leaks, checkpoints, determinism; edge semantics and generators, items 10-12, are in
test_reliability_semantics.py). Anything that could take
the interpreter down runs in a child process, so a crash fails the test instead of pytest."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradcore as gc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The directory of the gradcore this test imported (installed, or python/ in a dev tree).
PYPATH = os.path.dirname(os.path.dirname(os.path.abspath(__import__("gradcore").__file__)))


def child(code, timeout=60, env=None):
    """Run `code` in a fresh interpreter with gradcore importable; returns the completed
    process (a crash shows as a negative returncode, a hang as TimeoutExpired)."""
    e = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PYPATH, os.environ.get("PYTHONPATH")) if p))
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=e)


def ok(p):
    assert p.returncode == 0, f"child failed (rc {p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


# ---- 1. saved targets do not change under the graph's feet ---------------------------------
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_1_target_mutation_after_forward(loss):
    out = ok(child(f"""
        import numpy as np, gradcore as gc, gradcore.nn.functional as F
        x = gc.randn(4, 5, dtype=gc.float64, requires_grad=True)
        t = gc.tensor([0, 1, 2, 3])
        inp = x.log_softmax(1) if "{loss}" == "nll_loss" else x
        F.{loss}(inp, t).backward(); ref = x.grad.numpy().copy(); x.grad = None
        for bad in (10**9, 2, -5):
            inp = x.log_softmax(1) if "{loss}" == "nll_loss" else x
            l = F.{loss}(inp, t)
            t.numpy()[:] = bad
            l.backward()
            assert np.array_equal(x.grad.numpy(), ref), (bad, x.grad.numpy(), ref)
            x.grad = None; t.numpy()[:] = [0, 1, 2, 3]
        print("ok")
    """))
    assert "ok" in out


# ---- 2. allocation failure raises MemoryError naming op and bytes -----------------------------
@pytest.mark.parametrize("expr", ["gc.ones(2**20, 1) + gc.ones(1, 2**20)",
                                  "gc.ones(2**20, 1) @ gc.ones(1, 2**20)",
                                  "gc.ones(1).expand(2**40)",
                                  "gc.ones(2**40, 2**30)"])
def test_2_allocation_failure_is_memory_error(expr):
    out = ok(child(f"""
        import gradcore as gc
        try:
            {expr}
        except MemoryError as e:
            print("ME", e)
        else:
            print("no error")
    """))
    assert out.startswith("ME"), out
    assert "bytes" in out


# ---- 3. fork after a parallel kernel ---------------------------------------------------------
def test_3_fork_after_parallel_kernel():
    out = ok(child("""
        import os, multiprocessing as mp, numpy as np, gradcore as gc
        gc.set_num_threads(2)
        a = gc.randn(512, 512)
        (a @ a).sum()
        pid = os.fork()
        if pid == 0:
            r = (a @ a).sum().item() + gc.randn(300, 300).relu().sum().item()
            os._exit(0 if np.isfinite(r) else 3)
        _, st = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(st) == 0, st
        def f(i):
            return float((a @ a)[0, 0].item())
        with mp.get_context("fork").Pool(2) as p:
            r = p.map(f, range(4))
        assert len(r) == 4
        (a @ a).sum()   # the parent still runs in parallel afterwards
        print("ok")
    """, timeout=60))
    assert "ok" in out


# ---- 4. amax/amin of all-inf rows ---------------------------------------------------------------
@pytest.mark.parametrize("dt", [gc.float32, gc.float64])
def test_4_extremes_of_infinite_rows(dt):
    inf = float("inf")
    x = gc.tensor([[-inf, -inf], [inf, inf], [1.0, 2.0]], dtype=dt)
    assert x.amax(1).tolist() == [-inf, inf, 2.0]
    assert x.amin(1).tolist() == [-inf, inf, 1.0]
    assert gc.tensor([-inf, -inf], dtype=dt).max().item() == -inf
    assert gc.tensor([inf, inf], dtype=dt).min().item() == inf
    assert gc.tensor([[-inf], [-inf]], dtype=dt).amax(0).tolist() == [-inf]


# ---- 5. the raw entry point validates everything ------------------------------------------
def test_5_raw_entry_is_memory_safe():
    out = ok(child("""
        import numpy as np
        from gradcore import dispatch as D
        from gradcore.dispatch import K
        f, f64, i64 = np.float32, np.float64, np.int64
        cases = [
          lambda: D.run(K.vdot, np.ones(4, f), np.ones(4, f), np.ones(0, f64)),
          lambda: D.run(K.vdot, np.ones(4, f), np.ones(3, f), ()),
          lambda: D.run(K.vnorm, np.ones(4, f), np.ones(0, f64), ord=2.0),
          lambda: D.run(K.nll_loss, np.ones((3, 4), f), np.zeros(3, i64), np.ones(0, f), np.ones(1, f), (), (), ignore_index=-100, reduction=0),
          lambda: D.run(K.nll_loss_backward, np.ones(3, f), np.full(3, 10**9, i64), np.ones(0, f), np.ones((), f), (3, 4), ignore_index=-100, reduction=0),
          lambda: D.run(K.cross_entropy_backward, np.ones(3, f), np.ones((3, 4), f), np.full(3, -7, i64), np.ones(0, f), np.ones((3, 2), f), np.ones((), f), (3, 4), ignore_index=-100, label_smoothing=0.0, reduction=0),
          lambda: D.run(K.cross_entropy_backward, np.ones(3, f), np.ones((3, 4), f), np.zeros(3, i64), np.ones(0, f), np.ones((1,), f), np.ones((), f), (3, 4), ignore_index=-100, label_smoothing=0.0, reduction=0),
          lambda: D.run(K.cross_entropy, np.ones((3, 4), f), np.zeros(3, i64), np.ones(0, f), np.ones(1, f), (3, 2), (), (), ignore_index=-100, label_smoothing=0.0, reduction=0),
          lambda: D.run(K.cross_entropy_soft, np.ones((3, 4), f), np.ones((3, 4), f), np.ones(0, f), np.ones(1, f), (3,), (), (), label_smoothing=0.0, reduction=0),
          lambda: D.run(K.bce, np.full(5, .5, f), np.ones(5, f), np.ones(1, f)),
          lambda: D.run(K.scatter_dim, np.ones(3, f), np.full(3, 99, i64), (3, 4), dim=1),
          lambda: D.run(K.index_add0, np.ones((2, 3), f), np.array([0, 7], i64), (2, 3)),
          lambda: D.run(K.max_dim, np.ones((3, 4), f), (3,), (2,), dim=1),
          lambda: D.run(K.logsumexp_backward, np.ones((1,), f), np.ones((3, 4), f), np.ones((1,), f), (5, 5)),
          lambda: D.run(K.sum_to, np.ones((3, 4), f), (5,)),
          lambda: D.run(K.gemm, np.ones((3, 4), f), np.ones((4, 5), f), np.ones((3, 2), f)),
          lambda: D.run(K.index_select0, np.ones((3, 4), f), np.array([5], i64), (1, 4)),
          lambda: D.run(K.randint, (10,), high=-5.0),
        ]
        bad = []
        for i, c in enumerate(cases):
            try:
                c()
                bad.append(i)
            except (ValueError, TypeError, IndexError, MemoryError) as e:
                pass
        assert not bad, f"accepted bad calls: {bad}"
        # aliasing: log_softmax and its backward must not give wrong values in place
        x = np.random.RandomState(0).randn(4, 6).astype(f)
        ref = D.run(K.log_softmax, x, x.shape, dim=1)
        y = x.copy()
        try:
            D.run(K.log_softmax, y, y, dim=1)
            assert np.allclose(y, ref, atol=1e-6), "in-place log_softmax is wrong"
        except ValueError:
            pass
        g = np.ones_like(ref); gref = D.run(K.log_softmax_backward, g, ref, g.shape, dim=1)
        g2 = g.copy()
        try:
            D.run(K.log_softmax_backward, g2, ref, g2, dim=1)
            assert np.allclose(g2, gref, atol=1e-6), "in-place log_softmax_backward is wrong"
        except ValueError:
            pass
        print("ok")
    """))
    assert "ok" in out


# ---- 6. the thread count is gradcore's own --------------------------------------------------
def test_6_thread_count_does_not_leak():
    out = ok(child("""
        import ctypes, ctypes.util, os
        import gradcore as gc
        gomp = ctypes.CDLL("libgomp.so.1")
        before = gomp.omp_get_max_threads()
        gc.set_num_threads(1)
        assert gc.get_num_threads() == 1
        assert gomp.omp_get_max_threads() == before, "gradcore changed OpenMP's setting"
        gomp.omp_set_num_threads(before + 3)
        assert gc.get_num_threads() == 1, "OpenMP's setting changed gradcore's"
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            t = torch.get_num_threads()
            gc.set_num_threads(3)
            assert torch.get_num_threads() == t
            torch.set_num_threads(1)
            assert gc.get_num_threads() == 3
        print("ok", before)
    """, env={"GRADCORE_NUM_THREADS": "1"}))
    assert "ok" in out
    out = ok(child("""
        import ctypes
        gomp = ctypes.CDLL("libgomp.so.1")
        n0 = gomp.omp_get_max_threads()
        import gradcore as gc
        assert gc.get_num_threads() == 1
        assert gomp.omp_get_max_threads() == n0, (n0, gomp.omp_get_max_threads())
        print("ok")
    """, env={"GRADCORE_NUM_THREADS": "1"}))
    assert "ok" in out


# ---- 7. the storage cache gives memory back --------------------------------------------------
@pytest.mark.skipif(bool(gc._C.config().get("sanitize")),
                    reason="ASan's quarantine holds freed memory: RSS is not the allocator's")
def test_7_empty_cache_and_memory_stats():
    out = ok(child("""
        import gc as pygc, gradcore as gc
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096
        s = gc.memory_stats()
        for k in ("allocated_bytes", "cached_bytes", "cache_limit_bytes", "peak_allocated_bytes"):
            assert k in s, s
        base = rss()
        ts = [gc.ones(1 << 20) for _ in range(50)] + [gc.ones(3000, 1000) for _ in range(3)]
        assert gc.memory_stats()["allocated_bytes"] >= 200 << 20
        del ts; pygc.collect()
        gc.empty_cache()
        assert gc.memory_stats()["cached_bytes"] == 0
        after = rss()
        assert after <= base * 1.10, (base, after)
        print("ok", base, after)
    """))
    assert "ok" in out


def test_7_cache_is_bounded():
    out = ok(child("""
        import gradcore as gc
        assert gc.memory_stats()["cache_limit_bytes"] == 64 << 20
        ts = [gc.ones(1 << 20) for _ in range(40)]
        del ts
        assert gc.memory_stats()["cached_bytes"] <= 64 << 20
        print("ok")
    """, env={"GRADCORE_CACHE_LIMIT": str(64 << 20)}))
    assert "ok" in out


@pytest.mark.skipif(bool(gc._C.config().get("sanitize")),
                    reason="ASan's quarantine holds freed memory: RSS is not the allocator's")
def test_7_training_rss_flat():
    out = ok(child("""
        import gradcore as gc, gradcore.nn as nn
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096
        gc.manual_seed(0)
        m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = gc.optim.Adam(m.parameters(), lr=1e-3)
        x, y = gc.randn(256, 64), gc.randint(0, 10, (256,))
        def step():
            opt.zero_grad(); nn.functional.cross_entropy(m(x), y).backward(); opt.step()
        for _ in range(200):
            step()
        r0 = rss()
        for _ in range(2000):   # docs/reliability.md quotes a 10,000-step run
            step()
        r1 = rss()
        assert r1 - r0 < 4 << 20, (r0, r1)
        print("ok", r0, r1)
    """, timeout=300))
    assert "ok" in out


# ---- 8. checkpoints ---------------------------------------------------------------------------
def test_8_save_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "a.gc"
        gc.save({"w": gc.ones(3)}, p)
        assert (os.stat(p).st_mode & 0o777) == 0o644
        os.umask(0o077)
        gc.save({"w": gc.ones(3)}, p)
        assert (os.stat(p).st_mode & 0o777) == 0o600
    finally:
        os.umask(old)


def test_8_killed_save_leaves_no_temp_files(tmp_path):
    p = tmp_path / "ck.gc"
    code = f"""
        import os, gradcore as gc, gradcore.serialization as S
        real = os.replace
        def die(*a):
            os.kill(os.getpid(), 9)
        S.os.replace = die
        gc.save({{"w": gc.ones(1000)}}, {str(p)!r})
    """
    r = child(code)
    assert r.returncode == -9
    assert [f for f in os.listdir(tmp_path) if f != "ck.gc"], "expected a stale temp file"
    gc.save({"w": gc.ones(3)}, p)   # the next save to the same path cleans dead writers' temps
    assert os.listdir(tmp_path) == ["ck.gc"]
    assert gc.load(p)["w"].tolist() == [1.0, 1.0, 1.0]


def _craft(path, tree, payload=b""):
    import hashlib
    import json
    import gradcore.serialization as S
    header = json.dumps({"tree": tree}).encode()
    header += b" " * (-(S._FIXED.size + len(header)) % 64)
    body = header + payload
    fixed = S._FIXED.pack(S.MAGIC, S.VERSION, 0, len(header), len(payload),
                          hashlib.sha256(body).digest())
    with open(path, "wb") as f:
        f.write(fixed + body)


@pytest.mark.parametrize("tree", [
    {"t": "tensor", "dtype": "float32", "shape": [1] * 9, "offset": 0, "nbytes": 4},
    {"t": "tensor", "dtype": "float32", "shape": [2 ** 62, 4], "offset": 0, "nbytes": 0},
    {"t": "tensor", "dtype": "float32", "shape": [0, 2 ** 63], "offset": 0, "nbytes": 0},
    {"t": "ndarray", "dtype": "float32", "shape": [True], "offset": 0, "nbytes": 4},
    {"t": "dict", "items": [[{"t": "float", "v": "0x1p0"}, {"t": "none"}],
                            [{"t": "list", "v": []}, {"t": "none"}]]},
    {"t": "list", "v": [{"t": "int", "v": 1}] * 3 + [None]},
    [{"t": "none"}],
])
def test_8_crafted_files_raise_value_error_naming_path(tmp_path, tree):
    p = tmp_path / "crafted.gc"
    _craft(p, tree, b"\0" * 64)
    with pytest.raises(ValueError, match="crafted.gc"):
        gc.load(p)


# ---- 9. bits do not depend on the thread count ------------------------------------------------
def test_9_reductions_bit_identical_across_thread_counts():
    n0 = gc.get_num_threads()
    x64 = gc.from_numpy(np.random.RandomState(1).randn(3_000_001))
    x32 = x64.float()
    m = gc.from_numpy(np.random.RandomState(2).randn(300, 70001))
    res = {}
    try:
        for nt in (1, 2, 3):
            gc.set_num_threads(nt)
            res[nt] = [x64.sum().item(), x32.sum().item(), x64.mean().item(),
                       (x64 * x64).sum().item(), m.sum().item(), x64.var().item(),
                       gc.from_numpy(np.abs(x64.numpy())).amax().item()]
    finally:
        gc.set_num_threads(n0)
    assert res[1] == res[2] == res[3]


def test_9_mlp_training_bit_identical_across_thread_counts():
    out = ok(child("""
        import numpy as np, gradcore as gc, gradcore.nn as nn
        def run(nt):
            gc.set_num_threads(nt); gc.manual_seed(0)
            m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
            opt = gc.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
            x = gc.randn(512, 64); y = gc.randint(0, 10, (512,))
            for _ in range(30):
                opt.zero_grad(); l = nn.functional.cross_entropy(m(x), y); l.backward(); opt.step()
            return [p.detach().numpy().copy() for p in m.parameters()] + [l.detach().numpy()]
        a, b = run(1), run(2)
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
        print("ok")
    """, timeout=120))
    assert "ok" in out
