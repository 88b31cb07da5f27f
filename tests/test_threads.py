"""The thread count: halved while other processes keep the cores busy (core/threads.h), never
changing a result."""
import os
import subprocess
import sys
import textwrap

import numpy as np

import gradcore as gc
import gradcore.nn as nn
from gradcore import _C

PKG = os.path.dirname(os.path.dirname(gc.__file__))


def _child(code, env=None):
    e = dict(os.environ, PYTHONPATH=PKG, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=e)


def test_adaptive_threads_on_by_default_and_off_by_env():
    code = "import gradcore, gradcore._C as C; print(C.config()['adaptive_threads'])"
    assert _child(code).stdout.strip() == "True"
    off = _child(code, {"GRADCORE_ADAPTIVE_THREADS": "0"})
    assert off.stdout.strip() == "False", off.stderr
    assert "(fixed)" in _child("import gradcore; gradcore.show_config()",
                               {"GRADCORE_ADAPTIVE_THREADS": "0"}).stdout


def _train():
    gc.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Linear(256, 10))
    opt = gc.optim.Adam(m.parameters(), lr=1e-3)
    x, y = gc.randn(256, 64), gc.randint(0, 10, (256,))
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    return [p.detach().numpy().copy() for p in m.parameters()]


def test_results_do_not_depend_on_the_adaptive_decision():
    # with a busy neighbour the check may halve the threads mid-run; the parameters must be
    # those of a fixed 1-thread and a fixed 2-thread run, bit for bit
    n0, a0 = gc.get_num_threads(), _C.adaptive_threads()
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\n"
                             "while time.time() - t < 20: pass"])
    try:
        gc.set_num_threads(2)
        _C.set_adaptive_threads(True)
        adaptive = _train()
        _C.set_adaptive_threads(False)
        fixed2 = _train()
        gc.set_num_threads(1)
        fixed1 = _train()
    finally:
        busy.kill()
        busy.wait()
        gc.set_num_threads(n0)
        _C.set_adaptive_threads(a0)
    for a, b, c in zip(adaptive, fixed2, fixed1):
        assert np.array_equal(a, b) and np.array_equal(a, c)
