"""The benchmark suite from a source checkout: the same as ``python -m gradcore bench``.

    python bench/run_all.py [--quick] [--only tiny_chain,sgemm] [--json F] [...]

The suite itself ships in the package (python/gradcore/bench/); see bench/README.md.
"""
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import _harness  # noqa: E402,F401  (finds gradcore in the checkout if not installed)
from gradcore.bench.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
