"""NaN/Inf provenance: the first kernel call that produced a non-finite value.

``detect_anomaly()`` (re-exported as ``gc.autograd.detect_anomaly``) checks every kernel
output inside its block through a dispatcher hook (``gradcore.dispatch.add_hook``) and raises
``AnomalyError`` naming the kernel, the primitive, forward or backward, the shapes, the module
(global module forward hooks keep the stack of modules being called) and the Python line that
created the op (``engine.site_hook`` labels each new graph node with it; backward kernels are
attributed to the node whose rule runs through ``engine.pre_node_hooks``).

``fit`` never pays for this on finite steps: it saves the generator state before each step
and, only when the loss or a gradient turned non-finite, re-executes that step under the
tracer with ``locate_nonfinite``.
"""
import contextlib
import linecache
import os
import sys

import numpy as np

from .. import dispatch as D
from .. import engine
from ..autograd import AnomalyError

__all__ = ["anomaly_mode", "locate_nonfinite", "AnomalyError", "user_line"]

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _Site(str):
    """A node's site: the module label as a str (what the profiler shows) plus ``line``."""
    __slots__ = ("line",)


def user_line():
    """'file:line in function: source' of the innermost frame outside the gradcore package."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
    if f is None:
        return None
    src = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}: {src}"


class _Tracer:
    """Finite check after every kernel call, with module / line / node bookkeeping."""

    def __init__(self):
        self.modules, self.names, self.node = [], {}, None

    def __enter__(self):
        from ..nn import module as _module
        self._prev_site = engine.site_hook
        self._handles = [_module.register_module_forward_pre_hook(self._enter_module),
                         _module.register_module_forward_hook(self._exit_module,
                                                              always_call=True)]
        engine.site_hook = self._site
        engine.pre_node_hooks.append(self._enter_node)
        engine.node_hooks.append(self._exit_node)
        self._handles.append(D.add_hook(self._on_call))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        engine.site_hook = self._prev_site
        engine.pre_node_hooks.remove(self._enter_node)
        engine.node_hooks.remove(self._exit_node)
        return False

    # ---- bookkeeping --------------------------------------------------------------------
    def _enter_module(self, module, args):
        if not self.modules:
            self.names.update({id(m): n for n, m in module.named_modules()})
        name = self.names.get(id(module), "")
        self.modules.append(f"{name} ({type(module).__name__})" if name
                            else type(module).__name__)

    def _exit_module(self, module, args, out):
        if self.modules:
            self.modules.pop()

    def _site(self):
        prev = self._prev_site() if self._prev_site else None
        s = _Site(prev if prev is not None else (self.modules[-1] if self.modules else ""))
        s.line = user_line()
        return s

    def _enter_node(self, node):
        self.node = node

    def _exit_node(self, node, g, in_grads):
        self.node = None

    # ---- the check ------------------------------------------------------------------------
    def _on_call(self, kid, args, kwargs, result):
        s = D.SCHEMAS[kid]
        if s.variadic:   # in-place multi-tensor kernels: optimizer steps, statistics
            return
        outs = result if isinstance(result, tuple) else (result,)
        if all(_finite(o) for o in outs):
            return
        _, ins, outs, _ = D.normalize(kid, args, kwargs, result)
        raise self._error(s.name, ins, outs)

    def _error(self, kernel, ins, outs):
        node = self.node
        if node is not None:
            phase, prim = "backward", node.prim.name
            site = engine.site_of(node)
            module = (str(site) or None) if site is not None else None
            line = getattr(site, "line", None)
        else:
            phase, prim = "forward", None
            module = self.modules[-1] if self.modules else None
            line = user_line()
        propagated = not all(_finite(a) for a in ins)
        ishapes = [tuple(a.shape) for a in ins if hasattr(a, "shape")]
        oshapes = [tuple(a.shape) for a in outs if hasattr(a, "shape")]
        what = f"kernel '{kernel}'" + (f" in the backward of '{prim}'" if prim else "")
        msg = (f"{'propagated' if propagated else 'produced'} NaN/Inf: {what} ({phase}), "
               f"inputs {_shapes(ishapes)} -> outputs {_shapes(oshapes)}"
               + (f", module {module}" if module else "")
               + (f"\n  created at {line}" if line else ""))
        if propagated:
            msg += "\n  (an input was already non-finite: the data, a parameter or a buffer)"
        return AnomalyError(msg, op=kernel, primitive=prim or kernel, phase=phase,
                            input_shapes=ishapes, output_shapes=oshapes, module=module,
                            line=line, propagated=propagated)


def _finite(a):
    if not hasattr(a, "dtype") or a.dtype.kind != "f":
        return True
    return bool(np.isfinite(a).all())


def _shapes(shapes):
    return ", ".join(str(s) for s in shapes) or "()"


@contextlib.contextmanager
def anomaly_mode(check_nan=True):
    """The context behind ``gc.autograd.detect_anomaly`` (see there)."""
    if not check_nan:
        yield
        return
    with _Tracer():
        yield


def locate_nonfinite(step_fn, rng_state, params=()):
    """Re-execute ``step_fn`` (a forward + backward) from generator state ``rng_state`` under
    the finite check. Returns the ``AnomalyError`` of the first non-finite kernel output, or
    None when the re-execution stayed finite. The ``.grad`` of ``params`` are set aside during
    the re-execution and put back afterwards."""
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    D.set_rng_state(rng_state)
    try:
        with _Tracer():
            step_fn()
    except AnomalyError as e:
        return e
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    return None
