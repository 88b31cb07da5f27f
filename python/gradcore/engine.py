"""Reverse-mode engine: graph nodes, grad mode, and the iterative backward pass.

A Node is created by ``make`` when an op's output needs a gradient. It keeps the primitive's
rule, its parents (a Node, a leaf Tensor, or None per input), the input shapes (to undo
broadcasting) and the tensors the forward saved. ``backward`` orders nodes by consumer counts
(Kahn's algorithm, no recursion), runs each rule once with its summed output gradient, sums
gradients back to input shapes in ONE place (``_unbroadcast``), and frees saved buffers.
"""
import itertools
import threading

import numpy as _np

from .registry import K, run


class _GradMode(threading.local):
    """Grad mode is per thread, as torch's: no_grad in one thread leaves the others alone."""
    enabled = True


grad_mode = _GradMode()


class Node:
    __slots__ = ("prim", "parents", "needs", "shapes", "saved", "g", "pending")

    def __init__(self, prim, parents, needs, shapes, saved):
        self.prim = prim
        self.parents = parents
        self.needs = needs
        self.shapes = shapes
        self.saved = saved
        self.pending = None   # consumer count, only during a backward pass
        self.g = None         # summed output gradient, only during a backward pass

    def name(self):
        return self.prim.name

    def __repr__(self):
        return f"<{self.prim.name}Backward>"


def is_grad_enabled():
    return grad_mode.enabled


Tensor = None  # set by tensor.py (which imports this module) once the class exists


def make(data, prim, inputs, saved):
    """Wrap ``data`` as the output tensor of ``prim`` applied to ``inputs`` (Tensors)."""
    t = Tensor.__new__(Tensor)
    t._data = data
    t.grad = None
    t._node = None
    t.requires_grad = False
    if grad_mode.enabled:
        if len(inputs) == 1:
            x = inputs[0]
            if not x.requires_grad:
                return t
            t._node = Node(prim, (x._node or x,), (True,), (x._data.shape,), saved)
        elif len(inputs) == 2:
            a, b = inputs
            ra, rb = a.requires_grad, b.requires_grad
            if not (ra or rb):
                return t
            t._node = Node(prim, ((a._node or a) if ra else None, (b._node or b) if rb else None),
                           (ra, rb), (a._data.shape, b._data.shape), saved)
        else:
            for x in inputs:
                if x.requires_grad:
                    break
            else:
                return t
            t._node = Node(prim,
                           tuple((x._node or x) if x.requires_grad else None for x in inputs),
                           tuple(x.requires_grad for x in inputs),
                           tuple(x._data.shape for x in inputs),
                           saved)
        t.requires_grad = True
    return t


def _unbroadcast(g, shape, opname):
    """Sum a gradient of the broadcast shape back to an input's ``shape``."""
    if g.shape == shape:
        return g
    nd = len(shape)
    if g.ndim < nd or g.shape[g.ndim - nd:] != shape and any(
            s != 1 and s != gs for s, gs in zip(shape, g.shape[g.ndim - nd:])):
        raise RuntimeError(f"{opname} backward: gradient of shape {g.shape} does not reduce "
                           f"to input shape {shape}")
    keep = (1,) * (g.ndim - nd) + shape
    return run(K.sum_to, g, keep, 1.0).reshape(shape)


def _add(a, b):
    return run(K.add, a, b, a.shape)


def backward(roots, seeds, retain_graph=False, inputs=None):
    """Backpropagate ``seeds`` (arrays) from ``roots`` (Tensors).

    With ``inputs=None`` gradients accumulate into leaves' ``.grad``; otherwise the gradients of
    ``inputs`` are returned (a list, None where unreachable) and ``.grad`` is left alone.
    Per-node bookkeeping lives in the nodes' ``g`` / ``pending`` slots, not in dicts.
    """
    leaf_grads = {}     # id(leaf or wanted tensor) -> (tensor, gradient)
    want = None if inputs is None else {id(t._node) if t._node is not None else id(t): t
                                        for t in inputs}
    # 1. Find every node reachable from the roots and count its consumers.
    stack = []
    for r in roots:
        n = r._node
        if n is not None and n.pending is None:
            if n.saved is _FREED:
                raise RuntimeError(_FREED_MSG)
            n.pending, n.g = 0, None
            stack.append(n)
    found = list(stack)
    while stack:
        for p in stack.pop().parents:
            if p is not None and type(p) is Node:
                if p.pending is None:
                    p.pending, p.g = 1, None
                    stack.append(p)
                    found.append(p)
                else:
                    p.pending += 1
    for r, s in zip(roots, seeds):
        n = r._node
        if n is None:
            if r.requires_grad:
                k = id(r)
                leaf_grads[k] = (r, s if k not in leaf_grads else _add(leaf_grads[k][1], s))
        else:
            n.g = s if n.g is None else _add(n.g, s)
    # 2. Run rules in reverse topological order.
    ready = [n for n in found if n.pending == 0]
    try:
        while ready:
            n = ready.pop()
            g, n.g, n.pending = n.g, None, None
            saved = n.saved
            if saved is _FREED:
                raise RuntimeError(_FREED_MSG)
            if want is not None and id(n) in want:
                t = want[id(n)]
                leaf_grads[id(t)] = (t, g)
            if not retain_graph:
                n.saved = _FREED
            if g is not None:
                rule = n.prim.vjp
                if rule is None:
                    raise RuntimeError(f"no backward rule for '{n.prim.name}'")
                in_grads = rule(g, n.needs, *saved)
                if len(in_grads) != len(n.parents):
                    raise RuntimeError(f"backward rule of '{n.prim.name}' returned "
                                       f"{len(in_grads)} gradients for {len(n.parents)} inputs")
            else:
                in_grads = (None,) * len(n.parents)
            for p, gi, shape in zip(n.parents, in_grads, n.shapes):
                if p is None:
                    continue
                if gi is not None and gi.shape != shape:
                    gi = _unbroadcast(gi, shape, n.prim.name)
                if type(p) is Node:
                    if gi is not None:
                        p.g = gi if p.g is None else _add(p.g, gi)
                    p.pending -= 1
                    if p.pending == 0:
                        ready.append(p)
                elif gi is not None:
                    k = id(p)
                    leaf_grads[k] = (p, gi) if k not in leaf_grads else (p, _add(leaf_grads[k][1], gi))
    finally:
        for n in found:
            n.pending = n.g = None
    # 3. Deliver.
    if want is not None:
        out = []
        for t in inputs:
            e = leaf_grads.get(id(t))
            out.append(None if e is None else _wrap_grad(e[1], t))
        return out
    # A gradient buffer may reach two leaves (add passes g to both; reshape makes views of
    # it) or be the caller's seed: copy it then, so that in-place updates of one .grad
    # (accumulation, clipping, zero_) never show up in another.
    handed = {id(_owner(s)) for s in seeds}
    for t, g in leaf_grads.values():
        if t.grad is None:
            key = id(_owner(g))
            if key in handed:
                g = run(K.expand, g, g.shape)
                key = id(g)
            handed.add(key)
            t.grad = _wrap_grad(g, t)
        else:
            run(K.accumulate, g, t.grad._data)
        hooks = getattr(t, "_post_acc_hooks", None)
        if hooks:
            for fn in list(hooks.values()):
                fn(t)
    return None


class HookHandle:
    """Returned by ``register_post_accumulate_grad_hook``: ``.remove()`` unregisters."""
    _ids = itertools.count()

    def __init__(self, hooks, fn):
        self._hooks, self.id = hooks, next(HookHandle._ids)
        hooks[self.id] = fn

    def remove(self):
        self._hooks.pop(self.id, None)


def _owner(a):
    """The array that owns ``a``'s memory (numpy points views at the owning array)."""
    b = a.base
    return b if isinstance(b, _np.ndarray) else a


def _wrap_grad(g, t):
    if g.dtype != t._data.dtype:
        g = run(K.cast, g, _empty_like(t._data))
    out = Tensor.__new__(Tensor)
    out._data = g
    out.grad = None
    out._node = None
    out.requires_grad = False
    return out


def _empty_like(a):
    from .dtypes import CODE
    from . import _C
    return _C.empty(a.shape, CODE[a.dtype])


_FREED = ("freed",)
_FREED_MSG = ("Trying to backward through the graph a second time (or directly access saved "
              "tensors after they have already been freed). Saved intermediate values of the "
              "graph are freed when you call .backward() or autograd.grad(). Specify "
              "retain_graph=True if you need to backward through the graph a second time.")
