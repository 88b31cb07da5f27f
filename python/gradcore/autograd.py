"""Public autograd API: grad, gradcheck, grad-mode context managers."""
import functools

import numpy as np

from . import dtypes as _dt
from .engine import grad_mode as _grad_mode, backward as _backward, is_grad_enabled  # noqa: F401
from .tensor import Tensor, as_tensor, _wrap
from .autograd_function import Function, FunctionCtx, once_differentiable  # noqa: F401


class _GradMode:
    """Context manager and decorator setting grad mode (``no_grad`` / ``enable_grad``);
    ``@gc.no_grad`` works without parentheses too."""

    mode = True

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        if len(args) == 1 and callable(args[0]) and not kwargs and cls is not set_grad_enabled:
            return self(args[0])  # bare decorator: @gc.no_grad
        return self

    def __enter__(self):
        self._prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc):
        _grad_mode.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    mode = False


class enable_grad(_GradMode):
    mode = True


class inference_mode(_GradMode):
    """torch.inference_mode: no graph is recorded (gradcore's no_grad)."""

    mode = False

    def __init__(self, mode=True):
        self.mode = not mode


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode  # takes effect as a function call too, as torch

    def __enter__(self):
        pass  # __init__ already switched the mode and remembered the previous one

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)
        _grad_mode.enabled = self._prev  # as a decorator it must not leave the mode switched
        return wrapper


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (a tuple), leaving ``.grad`` alone."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor) or isinstance(grad_outputs, np.ndarray):
        grad_outputs = [grad_outputs]
    seeds = []
    for o, g in zip(outs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError("grad: an output does not require grad and has no grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs; "
                                   f"pass grad_outputs for an output of shape {o.shape}")
            from .tensor import ones
            g = ones(o.shape, dtype=o.dtype)
        seeds.append(as_tensor(g, dtype=o.dtype)._data)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("grad: one of the inputs does not require grad")
    res = _backward(outs, seeds, retain_graph=retain_graph, inputs=ins)
    for i, r in enumerate(res):
        if r is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used in the graph; pass "
                               "allow_unused=True to get None for it")
    return tuple(res)


class GradcheckError(RuntimeError):
    """gradcheck found an analytic gradient that disagrees with finite differences."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, name=None, max_full=64, seed=0):
    """Compare backward against float64 central differences.

    Full Jacobian when an input has at most ``max_full`` elements; otherwise compare
    <u, J^T v> with <J u, v> for random u and v. Returns True or raises GradcheckError naming
    the op, the input, the index of the worst element and both values.
    """
    from .tensor import tensor
    ins = [a if isinstance(a, Tensor) else tensor(np.asarray(a, dtype=np.float64))
           for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    diff = [i for i, a in enumerate(ins) if a.requires_grad]
    for i in diff:
        if ins[i].dtype != _dt.float64:
            raise TypeError(f"gradcheck: input {i} is {ins[i].dtype}; gradcheck runs in float64")
    label = name or getattr(fn, "__name__", "fn")
    # Salted: test data drawn from default_rng(0) would otherwise equal the projection u, and
    # a scale-invariant function (a normalisation) has zero derivative along its own input.
    rng = np.random.default_rng([seed, 0x6772_6164])
    out = fn(*ins)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
    if not outs:
        return True

    def value(vs):  # <v, f(x)> as a float
        res = fn(*ins)
        res = res if isinstance(res, (tuple, list)) else (res,)
        res = [o for o in res if isinstance(o, Tensor) and o.requires_grad]
        return sum(float(np.sum(o._data.astype(np.float64) * v)) for o, v in zip(res, vs))

    vs_list = [[rng.standard_normal(o.shape) for o in outs]]
    total = sum(o.numel() for o in outs)
    if total <= max_full:  # full Jacobian rows: one unit seed per output element
        vs_list = []
        for k, o in enumerate(outs):
            for j in range(o.numel()):
                vs = [np.zeros(oo.shape) for oo in outs]
                vs[k].reshape(-1)[j] = 1.0
                vs_list.append(vs)
    for vs in vs_list:
        anal = grad(outs, [ins[i] for i in diff], grad_outputs=[_wrap(v) for v in vs],
                    retain_graph=True, allow_unused=True)
        for i, ga in zip(diff, anal):
            x = ins[i]._data
            ga = np.zeros(x.shape) if ga is None else ga._data
            if x.size <= max_full:
                num = np.zeros(x.shape)
                flat = x.reshape(-1)
                for j in range(x.size):
                    old = flat[j]
                    flat[j] = old + eps
                    fp = value(vs)
                    flat[j] = old - eps
                    fm = value(vs)
                    flat[j] = old
                    num.reshape(-1)[j] = (fp - fm) / (2 * eps)
                err = np.abs(ga - num) - (atol + rtol * np.abs(num))
                if x.size and (err.max() > 0 or not np.all(np.isfinite(ga) == np.isfinite(num))):
                    j = np.unravel_index(int(np.argmax(np.where(np.isnan(err), np.inf, err))), x.shape)
                    raise GradcheckError(
                        f"gradcheck failed for {label}: input {i} (shape {x.shape}), element "
                        f"{tuple(int(q) for q in j)}: analytic {ga[j]!r}, numeric {num[j]!r}")
            else:
                u = rng.standard_normal(x.shape)
                old = x.copy()
                np.add(old, eps * u, out=x)
                fp = value(vs)
                np.subtract(old, eps * u, out=x)
                fm = value(vs)
                np.copyto(x, old)
                num = (fp - fm) / (2 * eps)
                an = float(np.sum(ga * u))
                if not abs(an - num) <= atol + rtol * abs(num):
                    raise GradcheckError(
                        f"gradcheck failed for {label}: input {i} (shape {x.shape}), random "
                        f"projection <u, J^T v>: analytic {an!r}, numeric {num!r}")
    return True


class AnomalyError(RuntimeError):
    """The first kernel call that produced a NaN or Inf (``detect_anomaly``, ``fit``).
    Attributes: ``op`` (kernel), ``primitive`` (the differentiable op whose forward or backward
    ran it), ``phase`` ('forward' | 'backward'), ``input_shapes``, ``output_shapes``,
    ``module`` (the owning module, or None) and ``line`` (the Python line that created it)."""

    def __init__(self, msg, **info):
        super().__init__(msg)
        for k in ("op", "primitive", "phase", "input_shapes", "output_shapes", "module", "line",
                  "propagated"):
            setattr(self, k, info.get(k))


def detect_anomaly(check_nan=True):
    """Context manager: check every kernel output for NaN/Inf inside the block and raise
    ``AnomalyError`` (a RuntimeError) at the first one, naming the op (kernel and primitive),
    forward or backward, the input and output shapes, the module that owns it and the Python
    line that created it. Slow (a check after every kernel); meant for debugging, as torch's.
    ``check_nan=False`` makes it a no-op context."""
    from .diagnostics.anomaly import anomaly_mode
    return anomaly_mode(check_nan)
