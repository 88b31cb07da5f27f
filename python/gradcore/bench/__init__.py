"""The benchmark suite, shipped with the package: ``python -m gradcore bench``.

runner.py   the command: one child process per workload, the tables, ``--json``
worker.py   one workload in a child: timing (``KEY``) or peak RSS (``KEY --rss FRAMEWORK``)
workloads.py  the workloads (keys, sizes, candidates, FLOPs); models.py  their models and step
report.py   machine line, tables, the acceptance targets; _harness.py  alternating timing
"""
