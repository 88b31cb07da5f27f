"""Shim for the bench/ dev scripts: the harness ships in the package, gradcore.bench._harness.

Importable from a source checkout without PYTHONPATH=python (falls back to the checkout's python/).
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import gradcore  # noqa: F401
except ImportError:  # a source checkout without PYTHONPATH=python
    sys.path.insert(0, os.path.join(_ROOT, "python"))

from gradcore.bench._harness import (  # noqa: E402,F401
    LoadGate, Settings, blas_info, emit, environment, finish, gc, interleaved, module_main, np,
    parser, ratio, set_threads, try_torch)
