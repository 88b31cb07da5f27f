"""The one door between Python and the C++ core.

Every kernel call of gradcore goes through ``run`` here, looked up at call time::

    from .. import dispatch as D
    y = D.run(D.K.softmax, x, x.shape, dim=1)      # inputs, outputs (arrays or shapes), attrs

``run`` is ``_C.run`` (the C++ entry ``gc::call``, which checks the call against the kernel's
schema) while no hook is installed, and a wrapper that calls every hook after each kernel
while one is: because call sites look ``D.run`` up on every call, a hook installed at any time
sees every later call. The profiler, the recorder (``record``) and NaN checks are hooks.
Allocation (``empty``), the generator state and thread control live here too.
"""
import contextlib
from typing import NamedTuple

from . import _C

run = _C.run
empty = _C.empty


# ---- kernel schemas ----------------------------------------------------------------------
class Schema(NamedTuple):
    """One kernel's declaration (csrc: GC_KERNEL): inputs/outputs as (name, type), attrs as
    (name, type, default or None)."""
    id: int
    name: str
    text: str
    inputs: tuple
    outputs: tuple
    attrs: tuple
    variadic: bool
    has_flops: bool


SCHEMAS = tuple(Schema(i, name, text, tuple(ins), tuple(outs), tuple(attrs), var, fl)
                for i, (name, text, ins, outs, attrs, var, fl) in enumerate(_C.kernel_schemas()))


class _KernelIds:
    """Attribute access to kernel ids: ``K.gemm`` is the id of the C++ kernel "gemm"."""

    def __init__(self):
        for s in SCHEMAS:
            setattr(self, s.name, s.id)

    def __getattr__(self, name):
        raise AttributeError(f"no C++ kernel named {name!r} is registered")


K = _KernelIds()


def show_kernels(markdown=False):
    """Print every registered kernel's schema (a Markdown table with ``markdown=True``)."""
    if markdown:
        lines = ["| kernel | inputs | outputs | attributes |", "| --- | --- | --- | --- |"]
        for s in SCHEMAS:
            ins = ", ".join(f"{t} {n}" for n, t in s.inputs)
            outs = ", ".join(f"{t} {n}" for n, t in s.outputs) or "(in place)"
            ats = ", ".join(f"{t} {n}" + ("" if d is None else f"={d:g}") for n, t, d in s.attrs)
            lines.append(f"| `{s.name}` | {ins} | {outs} | {ats} |")
        print("\n".join(lines))
    else:
        for s in SCHEMAS:
            print(s.text)


# ---- hooks -------------------------------------------------------------------------------
_hooks = []


class HookHandle:
    def __init__(self, fn):
        self.fn = fn

    def remove(self):
        if self.fn in _hooks:
            _hooks.remove(self.fn)
            _install()


def add_hook(fn):
    """Call ``fn(kernel_id, args, kwargs, result)`` after every kernel call from Python
    (``args``/``kwargs`` as given to ``run``; ``result`` its return value). Returns a handle
    with ``remove()``."""
    _hooks.append(fn)
    _install()
    return HookHandle(fn)


def _hooked_run(kid, *args, **kwargs):
    out = _C.run(kid, *args, **kwargs)
    for h in tuple(_hooks):
        h(kid, args, kwargs, out)
    return out


def _install():
    global run
    run = _hooked_run if _hooks else _C.run


# ---- normalised calls and the recorder --------------------------------------------------
def _flat(x, out):
    if isinstance(x, (tuple, list)):
        for v in x:
            _flat(v, out)
    else:
        out.append(float(x))


def normalize(kid, args, kwargs, result):
    """``(kid, inputs, outputs, attrs)`` of one call: arrays in schema order (outputs as the
    arrays written) and the attributes flattened with defaults filled in, as ``gc::call``
    receives them."""
    s = SCHEMAS[kid]
    nt = len(s.inputs) + len(s.outputs)
    if s.variadic:
        n = 0
        while n < len(args) and hasattr(args[n], "__array_interface__"):
            n += 1
        ins, outs, rest = list(args[:n]), [], args[n:]
    else:
        tens = list(args[:nt])
        names = [n for n, _ in s.inputs] + [n for n, _ in s.outputs]
        for name in names[len(tens):]:
            tens.append(kwargs[name])
        ins, rest = tens[:len(s.inputs)], args[nt:]
        res = result if isinstance(result, tuple) else (result,)
        outs = [r for r in res][:len(s.outputs)]
    attrs = []
    _flat(rest, attrs)
    for name, _, default in s.attrs[len(attrs):]:
        if name in kwargs:
            _flat(kwargs[name], attrs)
        elif default is not None:
            attrs.append(default)
    return kid, tuple(ins), tuple(outs), tuple(attrs)


class Recording:
    """The kernel calls made while recording, in order, as ``(kid, inputs, outputs, attrs)``
    (see ``normalize``). ``program()`` turns them into a ``_C.Program`` that replays the same
    calls on the same buffers inside the C++ core (``gc::call``, GIL released)."""

    def __init__(self):
        self.calls = []

    def __call__(self, kid, args, kwargs, result):
        self.calls.append(normalize(kid, args, kwargs, result))

    def program(self):
        return _C.Program(self.calls)

    def kernel_names(self):
        return [SCHEMAS[c[0]].name for c in self.calls]


@contextlib.contextmanager
def record():
    """``with record() as rec:`` captures every kernel call made inside the block."""
    rec = Recording()
    handle = add_hook(rec)
    try:
        yield rec
    finally:
        handle.remove()


def replay(program, feeds=()):
    """Copy each ``(new, recorded)`` array pair of ``feeds`` into the recorded buffer (an
    ``expand`` kernel call), then run the recorded program in C++."""
    for new, old in feeds:
        run(K.expand, new, old)
    program.run()


# ---- allocation, generator, threads --------------------------------------------------------
def manual_seed(seed):
    from .generator import default_generator
    default_generator.manual_seed(seed)


def get_rng_state():
    from .generator import default_generator
    return default_generator._pair()


def set_rng_state(state):
    from .generator import default_generator
    default_generator._set(int(state[0]), int(state[1]))


def get_num_threads():
    return _C.get_num_threads()


def set_num_threads(n):
    _C.set_num_threads(int(n))
