"""One build, several SIMD variants of the core: gradcore._C picks the best the CPU runs and
GRADCORE_SIMD forces one; every variant computes the same results."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gradcore as gc
from gradcore import _C

VARIANTS = [v for v in ("avx512", "avx2", "baseline", "native") if _C._available(v)]
SCRIPT = ("import gradcore as gc, numpy as np; gc.manual_seed(0); "
          "a = gc.randn(96, 80); b = gc.randn(80, 72); "
          "y = (a @ b).tanh().softmax(1).sum(0); "
          "print(gc._C.variant, repr(y.numpy().astype(np.float64).tolist()))")


def _run(variant):
    env = dict(os.environ, GRADCORE_SIMD=variant)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    name, values = out.stdout.split(" ", 1)
    return name, np.array(eval(values))


def test_the_best_variant_for_this_cpu_is_loaded():
    level = _C.cpu_level()
    if "native" in VARIANTS:
        assert _C.variant == "native"
    elif level >= 4 and "avx512" in VARIANTS:
        assert _C.variant == "avx512"
    elif level >= 3 and "avx2" in VARIANTS:
        assert _C.variant == "avx2"
    else:
        assert _C.variant == "baseline"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_and_agrees(variant):
    if variant == "avx512" and _C.cpu_level() < 4 or variant == "avx2" and _C.cpu_level() < 3:
        pytest.skip(f"this CPU cannot run the {variant} variant")
    name, y = _run(variant)
    assert name == variant
    _, ref = _run(_C.variant)
    np.testing.assert_allclose(y, ref, rtol=1e-5)


def test_unknown_forced_variant_is_a_clear_import_error():
    env = dict(os.environ, GRADCORE_SIMD="sse9")
    out = subprocess.run([sys.executable, "-c", "import gradcore"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and "GRADCORE_SIMD='sse9'" in out.stderr
