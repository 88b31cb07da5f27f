"""Kernels on large tensors release the GIL, so other Python threads run meanwhile."""
import random
import threading
import time

import numpy as np

import gradcore as gc
from gradcore.dispatch import K, run


def _main_thread_ran_inside(call):
    """Run ``call`` in a worker; True if the main thread executed Python while it ran.

    Only the middle third of the call counts: around the worker's timestamps the interpreter
    may hand the GIL over (5 ms switch interval, longer when the OS is slow to wake the worker)."""
    window, started, done = [], threading.Event(), threading.Event()

    def work():
        started.set()
        t0 = time.perf_counter()
        call()
        window.extend((t0, time.perf_counter()))
        done.set()

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    stamps = []
    while not done.is_set():
        stamps.append(time.perf_counter())
    t.join()
    t0, t1 = window
    assert t1 - t0 > 0.05, "the call was too short to tell"
    third = (t1 - t0) / 3
    return any(t0 + third < s < t1 - third for s in stamps)


def test_large_kernel_releases_gil():
    a = gc.randn(3072, 3072).numpy()  # one call of ~0.2 s
    out = np.empty((3072, 3072), np.float32)
    assert _main_thread_ran_inside(lambda: run(K.gemm, a, a, out, 0, 0))
    np.testing.assert_allclose(out[:2, :2], (a @ a)[:2, :2], rtol=1e-3, atol=1e-2)


def test_probe_detects_a_call_that_holds_the_gil():
    data = [random.random() for _ in range(2_000_000)]
    assert not _main_thread_ran_inside(data.sort)  # list.sort keeps the GIL throughout
