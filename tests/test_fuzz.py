"""Fuzz tests: the public API (tests/fuzz_public.py, hypothesis) and the raw kernel entry
over every registered kernel with guard-paged buffers (tests/fuzz_raw.py). Each batch runs in a
child process: a crash (SIGSEGV, abort) or a hang fails the test and names the last call.
Quick by default; ``pytest --fuzz-long tests/test_fuzz.py`` for the long run."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# The directory of the gradcore this test imported (installed, or python/ in a dev tree).
PYPATH = os.path.dirname(os.path.dirname(os.path.abspath(__import__("gradcore").__file__)))


def _batch(script, seed, n, flag, tmp_path, timeout):
    log = tmp_path / f"{script}.{seed}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PYPATH, os.environ.get("PYTHONPATH")) if p))
    try:
        p = subprocess.run([sys.executable, os.path.join(HERE, script), "--seed", str(seed),
                            flag, str(n), "--log", str(log)], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        last = log.read_text().splitlines()[-1:] if log.exists() else []
        pytest.fail(f"{script} seed {seed} hung; last call: {last}")
    if p.returncode != 0:
        last = log.read_text().splitlines()[-1:] if log.exists() else []
        pytest.fail(f"{script} seed {seed} died (rc {p.returncode}); last call: {last}\n"
                    f"{p.stderr[-3000:]}")
    m = re.search(r"calls=(\d+)", p.stdout)
    assert m, p.stdout
    return int(m.group(1)), p.stdout.strip()


def _plan(request, quick, long):
    return long if request.config.getoption("--fuzz-long") else quick


def test_fuzz_raw_kernel_entry(request, tmp_path):
    batches, per = _plan(request, (2, 1000), (5, 4000))
    total = 0
    for seed in range(batches):
        n, out = _batch("fuzz_raw.py", 1000 + seed, per, "--calls", tmp_path, 600)
        total += n
    print(f"raw fuzz: {total} calls over {batches} child processes")
    assert total >= batches * per * 0.95


def test_fuzz_public_api(request, tmp_path):
    batches, per = _plan(request, (1, 150), (5, 2500))
    total = 0
    for seed in range(batches):
        n, out = _batch("fuzz_public.py", 2000 + seed, per, "--examples", tmp_path, 900)
        total += n
        print(out)
    print(f"public fuzz: {total} calls over {batches} child processes")
    assert total >= batches * per * 0.9
