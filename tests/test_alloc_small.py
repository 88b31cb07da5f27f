"""The storage allocator's per-thread cache of small blocks (csrc/core/alloc.cpp): freed small
storages are reused (cache hits, the same bytes accounted), values never leak from one tensor
into the next, blocks freed on another thread are fine, and GRADCORE_CACHE_LIMIT=0 turns it
off."""
import threading

import numpy as np
import pytest

import gradcore as gc
from test_reliability import child, ok


@pytest.mark.skipif(bool(gc._C.config().get("sanitize")),
                    reason="sanitizer builds free every small block, so ASan sees each free")
def test_small_blocks_are_reused_and_accounted():
    x = gc.ones(8, 8)
    for _ in range(20):  # warm: the block sizes of x * 2.0 + 1.0 are now in the free lists
        (x * 2.0 + 1.0).sum()
    s0 = gc.memory_stats()
    for _ in range(200):
        y = x * 2.0 + 1.0
        assert y.tolist() == [[3.0] * 8] * 8   # a reused block holds only this result
        del y
    s1 = gc.memory_stats()
    assert s1["num_cache_hits"] - s0["num_cache_hits"] >= 200
    assert s1["allocated_bytes"] == s0["allocated_bytes"]


def test_reused_block_never_shows_old_values():
    for n in (1, 3, 16, 17, 64, 100, 1000):
        a = gc.full((n,), 7.0)
        del a
        z = gc.zeros(n)
        e = gc.empty(n)
        e.fill_(0.5)
        assert (z.numpy() == 0).all() and (e.numpy() == 0.5).all()


def test_blocks_freed_on_other_threads():
    made = [gc.randn(8, 8) * 1.0 for _ in range(300)]
    ref = [t.numpy().copy() for t in made]
    errs = []

    def worker(chunk):
        try:
            for t in chunk:
                del t
            for _ in range(100):  # and allocate there too
                w = gc.ones(4, 4) + 1.0
                assert w.sum().item() == 32.0
        except Exception as e:  # pragma: no cover - reported below
            errs.append(e)
    for t, r in zip(made, ref):
        np.testing.assert_array_equal(t.numpy(), r)
    chunks = [made[i::3] for i in range(3)]
    del made
    ths = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    del chunks
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errs
    assert (gc.ones(8, 8) * 2.0).sum().item() == 128.0


def test_cache_limit_zero_turns_small_cache_off():
    out = ok(child("""
        import gradcore as gc
        x = gc.ones(8, 8)
        for _ in range(10):
            x * 2.0
        h0 = gc.memory_stats()["num_cache_hits"]
        for _ in range(100):
            x * 2.0
        assert gc.memory_stats()["num_cache_hits"] == h0, gc.memory_stats()
        print("ok")
    """, env={"GRADCORE_CACHE_LIMIT": "0"}))
    assert "ok" in out
