"""``gc.autograd.Function``: custom differentiable ops written as torch writes them.

    class Exp(gc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    z = Exp.apply(x)

``apply`` runs ``forward`` without recording, then records ONE graph node whose primitive
(``registry.primitive``, one per Function class) calls ``backward`` with the output gradients
as Tensors. Several outputs are packed into one flat buffer behind the node, and each returned
tensor is a differentiable slice of it. Saved tensors take part in the in-place version check.
"""
import functools

from . import registry
from .engine import grad_mode, make
from .tensor import Tensor, _wrap


class FunctionCtx:
    """The ``ctx`` of forward/backward: save_for_backward, saved_tensors, needs_input_grad,
    and any attribute you set on it."""

    def __init__(self):
        self._saved = ()
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_diff = set()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save tensors (or None), got "
                                f"{type(t).__name__}; store other values as ctx attributes")
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError("Trying to backward through the graph a second time: the "
                               "saved tensors were freed (pass retain_graph=True)")
        return tuple(None if t is None else t.detach() for t in self._saved)

    def mark_non_differentiable(self, *tensors):
        self._non_diff.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``;
    call ``YourFunction.apply(*args)``. ``backward`` returns one gradient (or None) per
    argument of ``forward``."""

    _prims = {}

    def __init__(self, *args, **kwargs):
        pass

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("Function subclasses must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must define backward(ctx, *grads) to be "
                                  "differentiated")

    @classmethod
    def _prim(cls):
        p = Function._prims.get(cls)
        if p is None:
            name = cls.__name__
            k = 1
            while name in registry.PRIMITIVES:
                k += 1
                name = f"{cls.__name__}{k}"
            p = Function._prims[cls] = registry.primitive(name)
            p.defvjp(functools.partial(_vjp, cls))
        return p

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        prev = grad_mode.enabled
        grad_mode.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            grad_mode.enabled = prev
        inputs = tuple(a for a in args if isinstance(a, Tensor))
        if not (prev and any(t.requires_grad for t in inputs)):
            return out
        single = not isinstance(out, (tuple, list))
        outs = (out,) if single else tuple(out)
        diff = [i for i, o in enumerate(outs) if isinstance(o, Tensor)
                and o.dtype.kind == "f" and id(o) not in ctx._non_diff]
        if not diff:
            return out
        meta = (ctx, [(i, outs[i].shape, outs[i].dtype) for i in diff],
                tuple(i for i, a in enumerate(args) if isinstance(a, Tensor)), len(outs))
        saved = (meta,) + tuple(t._data for t in ctx._saved if t is not None)
        if len(diff) == 1:
            o = outs[diff[0]]
            res = list(outs)
            res[diff[0]] = make(o._data, cls._prim(), inputs, saved)
            return res[0] if single else type(out)(res) if isinstance(out, tuple) else res
        import numpy as np
        dt = outs[diff[0]].dtype
        flat = np.concatenate([outs[i]._data.astype(dt, copy=False).reshape(-1) for i in diff])
        from .tensor import as_tensor
        packed = make(as_tensor(np.ascontiguousarray(flat))._data, cls._prim(), inputs, saved)
        res, lo = list(outs), 0
        for i in diff:
            n = outs[i].numel()
            res[i] = packed[lo:lo + n].reshape(outs[i].shape)
            lo += n
        return tuple(res) if isinstance(out, tuple) else res


def _vjp(cls, g, needs, meta, *saved_arrays):
    import numpy as np
    ctx, diff, tensor_pos, n_out = meta
    grads = [None] * n_out
    if len(diff) == 1:
        grads[diff[0][0]] = _wrap(g)
    else:
        lo = 0
        for i, shape, dtype in diff:
            n = int(np.prod(shape, dtype=np.int64))
            grads[i] = _wrap(np.ascontiguousarray(g[lo:lo + n].reshape(shape)))
            lo += n
    if ctx.materialize_grads:
        from .tensor import zeros
        grads = [zeros(()) if gr is None else gr for gr in grads]
    prev = grad_mode.enabled
    grad_mode.enabled = False
    try:
        res = cls.backward(ctx, *grads)
    finally:
        grad_mode.enabled = prev
    res = res if isinstance(res, tuple) else (res,)
    n_args = len(ctx.needs_input_grad)
    if len(res) < n_args:
        res = tuple(res) + (None,) * (n_args - len(res))
    if len(res) > n_args:
        if any(r is not None for r in res[n_args:]):
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number of "
                               f"gradients (expected {n_args}, got {len(res)})")
    out = []
    for pos in tensor_pos:
        r = res[pos]
        if r is None:
            out.append(None)
            continue
        if not isinstance(r, Tensor):
            from .tensor import as_tensor
            r = as_tensor(r)
        out.append(r._data)
    return tuple(out)


def once_differentiable(fn):
    """torch's decorator for backward methods: gradcore's backward never builds a graph."""
    return fn


class BackwardCFunction:  # noqa: D401 - name kept for scripts that isinstance-check
    pass
