"""gc.compile: capture a training step once, replay it inside the C++ core.

    step = gc.compile(train_step)        # train_step(x, y): forward, loss, backward, opt.step()
    for x, y in loader:
        loss = step(x, y)

For each new signature of tensor arguments (shapes, dtypes; other arguments by value) the first
call runs eagerly (it creates lazy state such as Adam's moments), the second runs eagerly while
``dispatch.record()`` captures its kernel calls, and every later call replays that kernel list
through ``gc::call`` in C++ with the GIL released and no Python per op: the recorded buffers are
reused, the tensor arguments are rebound to the new inputs (no copy). Values that change between
calls without changing the graph are read by the kernels when they run: learning rates and
other options set on a parameter group (``ParamGroup.hyper``), step counts (tensors), the
random generator's offset (dropout draws new masks). Results equal eager's to the bit.

Rules (each raises ``gc.CompileError`` when broken, never a wrong replay):
- the function must not read tensor values into Python while it is recorded (``item()``,
  ``float()``, ``bool()``, ``numpy()``, ``tolist()``, ``if t > 0``): the replay would not redo
  the Python decision. The error names the line.
- tensor arguments must be used through kernels (a copy made with numpy would not be seen);
  the few ops gradcore itself computes with numpy (``nonzero``, ``unique``, ``all``/``any``,
  ``isclose``, ``topk``, integer ``cumsum``/``prod``/``fmod``/``sign``...) raise too.
Returned tensors are the recorded ones, overwritten by the next call (``clone()`` to keep one).
Python side effects (``p.grad = ...`` done by backward, appends to lists) happen in the
recorded call only: return what later code needs (``fit(compile=True)`` returns the gradient
tensors and re-attaches them, since a new input shape gets its own recording and buffers).
Schedulers and anything else that changes Python state belong outside the compiled function.
"""
import collections
import functools
import sys
import threading

import numpy as np

from . import _C
from . import dispatch as D
from .tensor import Tensor

_tensor = sys.modules[Tensor.__module__]  # the module (gc.tensor is the function)


class CompileError(RuntimeError):
    """A compiled function did something a replay cannot reproduce."""


class _Capture(threading.local):
    recording = False


_capture = _Capture()


def _caller_line():
    """file:line of the first frame outside gradcore (the user's line)."""
    f = sys._getframe(2)
    while f is not None and "/gradcore/" in f.f_code.co_filename.replace("\\", "/"):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


def check_read(what):
    """Called by Tensor methods that hand a value to Python: an error while recording."""
    if _capture.recording:
        raise CompileError(f"gc.compile: the compiled function reads a tensor value into Python "
                           f"({what}) at {_caller_line()}; a replay cannot repeat the Python "
                           "decision. Move it outside the compiled function, or keep the value "
                           "as a tensor")


def host_compute(op):
    """Called by the few ops that compute with numpy instead of a kernel (integer helpers,
    all/any, isclose, nonzero, unique, bincount, topk's indices): while a call is recorded
    they raise, because a replay would not recompute them (it would reuse this call's values)."""
    if _capture.recording:
        check_read(f"{op}, computed with numpy outside the kernels")


def _one(a):
    if isinstance(a, Tensor):
        return (a._data.shape, a._data.dtype, a.requires_grad)
    if isinstance(a, np.ndarray):
        return ("A", a.shape, a.dtype, a.flags.c_contiguous)
    try:
        hash(a)
        return ("V", type(a).__name__, a)
    except TypeError:
        return ("O", id(a))


def _signature(args, kwargs):
    """(cache key, the numpy arrays behind the tensor/array arguments in order). The key holds
    each tensor's shape, dtype and requires_grad, each array's too, other values by value."""
    key, arrays = [], []
    for a in args:
        if type(a) is Tensor:  # the common case, inline
            d = a._data
            key.append((d.shape, d.dtype, a.requires_grad))
            arrays.append(d)
            continue
        key.append(_one(a))
        if isinstance(a, Tensor):
            arrays.append(a._data)
        elif isinstance(a, np.ndarray):
            arrays.append(a)
    for k in sorted(kwargs):
        a = kwargs[k]
        key.append((k, _one(a)))
        if isinstance(a, Tensor):
            arrays.append(a._data)
        elif isinstance(a, np.ndarray):
            arrays.append(a)
    return tuple(key), arrays


class _Entry:
    __slots__ = ("calls", "program", "inputs", "result", "n_kernels")

    def __init__(self):
        self.calls = 0
        self.program = None


class Compiled:
    """The callable ``gc.compile(fn)`` returns; ``.stats()`` tells what it did."""

    def __init__(self, fn, warmup=1, cache_size=8):
        if not callable(fn):
            raise TypeError(f"gc.compile: expected a callable, got {type(fn).__name__}")
        if warmup < 0:
            raise ValueError(f"gc.compile: warmup must be >= 0, got {warmup}")
        functools.update_wrapper(self, fn)
        self.fn, self.warmup, self.cache_size = fn, int(warmup), int(cache_size)
        self._cache = collections.OrderedDict()
        self.recordings = 0
        self.replays = 0
        self._last_key, self._last = None, None

    def __call__(self, *args, **kwargs):
        key, arrays = _signature(args, kwargs)
        if key == self._last_key:  # the same signature as the previous call: no cache upkeep
            e = self._last
        else:
            e = self._cache.get(key)
            if e is None:
                e = self._cache[key] = _Entry()
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            self._last_key, self._last = key, e
        if e.program is not None:
            e.program.run(arrays)
            self.replays += 1
            return e.result
        e.calls += 1
        if e.calls <= self.warmup:
            return self.fn(*args, **kwargs)
        return self._record(e, arrays, args, kwargs)

    def _record(self, e, inputs, args, kwargs):
        _capture.recording = True
        _tensor.read_guard = check_read
        try:
            with D.record() as rec:
                result = self.fn(*args, **kwargs)
        finally:
            _capture.recording = False
            _tensor.read_guard = None
        used = {id(a) for c in rec.calls for side in (c[1], c[2]) for a in side}
        for i, a in enumerate(inputs):
            if a.size and not any(_within(b, a) for c in rec.calls for side in (c[1], c[2])
                                  for b in side) and id(a) not in used:
                raise CompileError(f"gc.compile: tensor argument #{i} (shape {a.shape}) is not "
                                   "read by any kernel of the recorded call; was it converted "
                                   "with numpy inside the function?")
        e.program = _C.Program(rec.calls, inputs)
        e.inputs, e.result, e.n_kernels = inputs, result, len(rec.calls)
        self.recordings += 1
        return result

    def stats(self):
        """{'signatures', 'recordings', 'replays', 'kernels'} (kernels per recorded call)."""
        return {"signatures": len(self._cache), "recordings": self.recordings,
                "replays": self.replays,
                "kernels": [e.n_kernels for e in self._cache.values() if e.program is not None]}


def _within(b, a):
    """Does array ``b`` lie inside array ``a``'s memory?"""
    pa, pb = a.__array_interface__["data"][0], b.__array_interface__["data"][0]
    return pa <= pb < pa + a.nbytes


def compile(fn=None, *, warmup=1, cache_size=8):  # noqa: A001  (torch.compile's name)
    """Capture ``fn``'s kernel calls and replay them in C++ (see the module docstring).
    Usable as ``gc.compile(fn)`` or as a decorator, ``@gc.compile`` / ``@gc.compile(warmup=2)``."""
    if fn is None:
        return lambda f: Compiled(f, warmup=warmup, cache_size=cache_size)
    return Compiled(fn, warmup=warmup, cache_size=cache_size)
