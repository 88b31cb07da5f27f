"""Kernels on large tensors release the GIL, so other Python threads run meanwhile."""
import threading

import numpy as np

import gradcore as gc
from gradcore.registry import K, run


def test_large_kernel_releases_gil():
    a = gc.randn(1536, 1536).numpy()
    out = np.empty((1536, 1536), np.float32)
    started, done = threading.Event(), threading.Event()

    def work():
        started.set()
        for _ in range(4):
            run(K.gemm, a, a, out, 0, 0)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    count = 0
    while not done.is_set():  # with the GIL held by the kernel this loop could not run
        count += 1
    t.join()
    assert count > 10
    np.testing.assert_allclose(out[:2, :2], (a @ a)[:2, :2], rtol=1e-3, atol=1e-2)
