"""gc.profiler: where the time of a step goes, per kernel and per module.

    with gc.profiler.profile() as p:
        train_step()
    print(p.table())                      # per kernel: calls, total ms, mean us, GFLOP/s
    print(p.table(group_by="module"))     # per call site: nn.Linear 0, backward nn.Linear 0, ...
    p.export_chrome_trace("trace.json")   # chrome://tracing or ui.perfetto.dev

Timing comes from the C++ tracer on the ``gc::call`` hook slot (every kernel, replays
included, steady clock, FLOPs from the kernel schema); a dispatcher hook labels each Python
kernel call with where it came from: the innermost module being called (module forward hooks),
``backward <module>`` for the rule of a node created there, or a ``record_function`` label
(the optimizer step, zero_grad, clip_grad_norm_).
"""
import contextlib
import json
import os
import threading
import time

from . import _C
from . import dispatch as D
from . import engine

_active = None   # the running profile, if any (one at a time)


class _State(threading.local):
    def __init__(self):
        self.labels = []      # record_function / module stack of the current thread
        self.backward = None  # the node whose rule is running (backward labels)


_state = _State()


@contextlib.contextmanager
def record_function(name):
    """Label the kernel calls made inside the block (as torch.profiler.record_function)."""
    _state.labels.append(name)
    try:
        yield
    finally:
        _state.labels.pop()


_NULL = contextlib.nullcontext()


def label(name):
    """``record_function(name)`` while a profile runs, else a no-op context (cheap)."""
    return record_function(name) if _active is not None else _NULL


def _site():
    """The label a new graph node records: the innermost module or record_function."""
    return _state.labels[-1] if _state.labels else None


def _label():
    if _state.backward is not None:
        return "backward " + (engine.site_of(_state.backward) or _state.backward.prim.name)
    return _state.labels[-1] if _state.labels else "(no module)"


class profile:  # noqa: N801  (torch's name)
    """Context manager that records every kernel call; see the module docstring."""

    def __init__(self):
        self.events = []      # (kernel, label, t0_ns, t1_ns, flops, tid)
        self._py = []

    # ---- recording -------------------------------------------------------------------------
    def __enter__(self):
        global _active
        if _active is not None:
            raise RuntimeError("gc.profiler.profile: another profile is already running")
        _active = self
        from .nn import module as _module
        self._names = {}
        self._hooks = [D.add_hook(self._on_call),
                       _module.register_module_forward_pre_hook(self._enter_module),
                       _module.register_module_forward_hook(self._exit_module, always_call=True)]
        engine.site_hook = _site
        engine.pre_node_hooks.append(self._enter_node)
        engine.node_hooks.append(self._exit_node)
        _C.trace_start()
        return self

    def __exit__(self, *exc):
        global _active
        raw = _C.trace_stop()
        for h in self._hooks:
            h.remove()
        engine.site_hook = None
        engine.pre_node_hooks.remove(self._enter_node)
        engine.node_hooks.remove(self._exit_node)
        _state.backward = None
        _active = None
        self._match(raw)
        return False

    def _on_call(self, kid, args, kwargs, out):
        self._py.append((kid, _label(), time.monotonic_ns(), threading.get_native_id()))

    def _enter_module(self, module, args):
        if not _state.labels or not _state.labels[-1].startswith("nn."):
            self._names.update({id(m): n for n, m in module.named_modules()})
        name = self._names.get(id(module), "")
        _state.labels.append(f"nn.{type(module).__name__} {name}".rstrip())

    def _exit_module(self, module, args, out):
        if _state.labels:
            _state.labels.pop()

    def _enter_node(self, node):
        _state.backward = node

    def _exit_node(self, node, g, in_grads):
        _state.backward = None

    def _match(self, raw):
        """Give each C++ event the label of the Python call it belongs to: per thread, in
        order, same kernel, ended before Python saw it return. Others are replayed calls."""
        by_tid = {}
        for i, e in enumerate(raw):
            by_tid.setdefault(e[4], []).append(i)
        labels = ["(replay)"] * len(raw)
        pos = {t: 0 for t in by_tid}
        for kid, label, t_py, tid in self._py:
            idx = by_tid.get(tid, [])
            j = pos.get(tid, 0)
            while j < len(idx) and not (raw[idx[j]][0] == kid and raw[idx[j]][2] <= t_py):
                j += 1
            if j < len(idx):
                labels[idx[j]] = label
                pos[tid] = j + 1
        self.events = [(D.SCHEMAS[e[0]].name, lab, e[1], e[2], e[3], e[4])
                       for e, lab in zip(raw, labels)]

    # ---- reports -------------------------------------------------------------------------
    def total_ms(self):
        """Time inside kernels, summed over every call (ms)."""
        return sum(e[3] - e[2] for e in self.events) / 1e6

    def key_averages(self, group_by="kernel"):
        """[(key, calls, total_ns, flops)], sorted by total time; key = kernel name, or the
        label (module / backward / record_function) with ``group_by='module'``."""
        rows = {}
        for name, label, t0, t1, fl, _ in self.events:
            key = name if group_by == "kernel" else label
            r = rows.setdefault(key, [0, 0, 0.0])
            r[0] += 1
            r[1] += t1 - t0
            r[2] += fl
        return sorted(((k, *v) for k, v in rows.items()), key=lambda r: -r[2])

    def table(self, sort_by="total", row_limit=None, group_by="kernel"):
        """A text table (torch.profiler's key_averages().table() shape): calls, total ms,
        mean us, % of kernel time and GFLOP/s where the kernel's schema knows its FLOPs."""
        rows = self.key_averages(group_by)
        if sort_by == "calls":
            rows.sort(key=lambda r: -r[1])
        elif sort_by == "mean":
            rows.sort(key=lambda r: -r[2] / max(r[1], 1))
        elif sort_by != "total":
            raise ValueError(f"table: sort_by must be 'total', 'calls' or 'mean', got {sort_by!r}")
        total = sum(r[2] for r in rows) or 1
        w = max([len(r[0]) for r in rows] + [len(group_by)])
        head = (f"{group_by:<{w}}  {'calls':>7}  {'total ms':>10}  {'mean us':>9}  "
                f"{'%':>6}  {'GFLOP/s':>8}")
        lines = [head, "-" * len(head)]
        for key, calls, ns, fl in rows[:row_limit]:
            gf = f"{fl / ns:8.1f}" if fl and ns else f"{'':>8}"
            lines.append(f"{key:<{w}}  {calls:7d}  {ns / 1e6:10.3f}  {ns / calls / 1e3:9.2f}  "
                         f"{100 * ns / total:6.1f}  {gf}")
        lines.append("-" * len(head))
        lines.append(f"kernel time total: {total / 1e6:.3f} ms in {len(self.events)} calls")
        return "\n".join(lines)

    def export_chrome_trace(self, path):
        """Write the events in the Trace Event Format (complete 'X' events, microseconds),
        atomically; open it in chrome://tracing or https://ui.perfetto.dev."""
        t_min = min((e[2] for e in self.events), default=0)
        trace = {"traceEvents": [
            {"name": name, "cat": "kernel", "ph": "X", "ts": (t0 - t_min) / 1e3,
             "dur": (t1 - t0) / 1e3, "pid": os.getpid(), "tid": tid,
             "args": {"module": label, **({"gflop": fl / 1e9} if fl else {})}}
            for name, label, t0, t1, fl, tid in self.events], "displayTimeUnit": "ms"}
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(trace, f)
        os.replace(tmp, path)
        return path
