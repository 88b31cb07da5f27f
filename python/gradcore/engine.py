"""Reverse-mode engine: graph nodes, grad mode, the iterative backward pass and its hooks.

A Node is created by ``make`` when an op's output needs a gradient. It keeps the primitive's
rule, its parents (a Node, a leaf Tensor, or None per input), the input shapes (to undo
broadcasting) and the tensors the forward saved. ``backward`` orders nodes by consumer counts
(Kahn's algorithm, no recursion), runs each rule once with its summed output gradient, sums
gradients back to input shapes in ONE place (``_unbroadcast``), and frees saved buffers.

Backward runs in phases with hook points, as torch's: a node's tensor hooks
(``register_hook``, ``retain_grad``) see its summed gradient before its rule runs;
``node_hooks`` see every rule's input gradients after it ran; a leaf's gradient is delivered
(its tensor hooks, accumulation into ``.grad``, then its post-accumulate hooks) as soon as its
last contribution has arrived, so an allreduce can start while backward goes on.
This module also binds the autograd half of ``Tensor`` (backward, hooks, retain_grad).
"""
import threading
import weakref

from . import _C
from . import dispatch as D
from .dispatch import K
from .dtypes import CODE
from .versions import _clock, _storage as _owner, check_saved
from .tensor import Tensor, as_tensor, full


class _GradMode(threading.local):
    """Grad mode is per thread, as torch's: no_grad in one thread leaves the others alone."""
    enabled = True


grad_mode = _GradMode()


class Node:
    __slots__ = ("prim", "parents", "needs", "shapes", "saved", "g", "pending", "hooks", "site",
                 "stamp")

    def __init__(self, prim, parents, needs, shapes, saved):
        self.stamp = _clock[0]  # in-place clock when made: later in-place ops are checked
        self.prim = prim
        self.parents = parents
        self.needs = needs
        self.shapes = shapes
        self.saved = saved
        self.pending = None   # consumer count, only during a backward pass
        self.g = None         # summed output gradient, only during a backward pass
        # ``hooks`` (tensor hooks on the output's gradient, register_hook) and ``site`` (where
        # the node was made: profiler, anomaly) are set only when used: read them with
        # node_hooks_of / site_of. Two slot stores per node measured ~3% of a tiny op.
        if site_hook is not None:
            self.site = site_hook()

    def name(self):
        return self.prim.name

    def __repr__(self):
        return f"<{_backward_name(self.prim.name)}>"


def site_of(node):
    """Where ``node`` was made (set while a profiler or anomaly check labels new nodes)."""
    return getattr(node, "site", None)


def node_hooks_of(node):
    return getattr(node, "hooks", None)


def _backward_name(name):
    """torch's grad_fn spelling: mul -> MulBackward0, log_softmax -> LogSoftmaxBackward0."""
    return "".join(w[:1].upper() + w[1:] for w in name.split("_")) + "Backward0"


def is_grad_enabled():
    return grad_mode.enabled


# ``site_hook()`` (when set) labels each new Node with where it was created;
# ``pre_node_hooks`` run as ``fn(node)`` before a node's rule, ``node_hooks`` as
# ``fn(node, grad_out, in_grads)`` after it and after its gradients were routed to the inputs.
# All are empty unless a profiler, anomaly detection or a gradient monitor is active.
site_hook = None
pre_node_hooks = []
node_hooks = []


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
    return D.run(K.sum_to, g, keep, 1.0).reshape(shape)


def _add(a, b):
    return D.run(K.add, a, b, a.shape)


def backward(roots, seeds, retain_graph=False, inputs=None):
    """Backpropagate ``seeds`` (arrays) from ``roots`` (Tensors).

    With ``inputs=None`` gradients accumulate into leaves' ``.grad``; otherwise the gradients of
    ``inputs`` are returned (a list, None where unreachable) and ``.grad`` is left alone.
    Per-node bookkeeping lives in the nodes' ``g`` / ``pending`` slots; leaves' in dicts.
    """
    if inputs is None and not (_post_hooked[0] or pre_node_hooks or node_hooks):
        pairs = _C.graph_backward(roots, seeds, retain_graph)  # the common case, in C
        if pairs is not NotImplemented:
            deliver = _Delivery(seeds, True)
            for t, g in pairs:
                deliver(t, g)
            return None
    got = {}            # id(leaf or wanted tensor) -> (tensor, summed gradient so far)
    owned = set()       # keys of got whose gradient is a sum this pass allocated
    want = None if inputs is None else {id(t._node) if t._node is not None else id(t): t
                                        for t in inputs}
    # 1. Find every node reachable from the roots; count the consumers of nodes and leaves.
    stack, leaf_pending = [], {}
    for r in roots:
        n = r._node
        if n is not None and n.pending is None:
            if n.saved is _FREED:
                raise RuntimeError(_FREED_MSG)
            n.pending, n.g = 0, None
            stack.append(n)
    found = list(stack)
    early = want is None and _post_hooked[0] > 0  # deliver leaves as soon as they are complete
    while stack:
        for p in stack.pop().parents:
            if p is None:
                continue
            if type(p) is Node:
                if p.pending is None:
                    p.pending, p.g = 1, None
                    stack.append(p)
                    found.append(p)
                else:
                    p.pending += 1
            elif early:
                leaf_pending[id(p)] = leaf_pending.get(id(p), 0) + 1
    deliver = _Delivery(seeds, want is None)
    for r, s in zip(roots, seeds):
        n = r._node
        if n is None:
            if r.requires_grad:
                k = id(r)
                got[k] = (r, s if k not in got else _add(got[k][1], s))
        else:
            n.g = s if n.g is None else _add(n.g, s)
    # 2. Run rules in reverse topological order; deliver each leaf when it is complete.
    ready = [n for n in found if n.pending == 0]
    hooked = _node_hooked[0] > 0                 # any tensor hook on a non-leaf registered?
    pre, post = pre_node_hooks, node_hooks
    clock = _clock
    try:
        while ready:
            n = ready.pop()
            g, n.g, n.pending = n.g, None, None
            saved = n.saved
            if saved is _FREED:
                raise RuntimeError(_FREED_MSG)
            if g is not None:
                if n.stamp != clock[0]:  # in-place ops since it was made
                    check_saved(n, _backward_name)
                if hooked:
                    hooks = getattr(n, "hooks", None)
                    if hooks:
                        g = _run_tensor_hooks(hooks, g)
            if want is not None and id(n) in want:
                t = want[id(n)]
                got[id(t)] = (t, g)
            if not retain_graph:
                n.saved = _FREED
            if g is not None:
                if pre:
                    for h in pre:
                        h(n)
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
                    continue
                k = id(p)
                if gi is not None:
                    e = got.get(k)
                    if e is None:
                        got[k] = (p, gi)
                    elif k in owned:  # a sum made here: add in place, no new buffer
                        D.run(K.accumulate, gi, e[1])
                    else:
                        got[k] = (p, _add(e[1], gi))
                        owned.add(k)
                if early:
                    leaf_pending[k] -= 1
                    if leaf_pending[k] == 0 and k in got:
                        deliver(*got.pop(k))
            if post and g is not None:
                for h in post:
                    h(n, g, in_grads)
    finally:
        for n in found:
            n.pending = n.g = None
    # 3. Deliver what is left (leaves that were roots), or return the wanted gradients.
    if want is not None:
        out = []
        for t in inputs:
            e = got.get(id(t))
            g = None if e is None else e[1]
            if g is not None and t._node is None and getattr(t, "_hooks", None):
                g = _run_tensor_hooks(t._hooks, g)
            out.append(None if g is None else _wrap_grad(g, t))
        return out
    for t, g in got.values():
        deliver(t, g)
    return None


class _Delivery:
    """Hands a leaf its finished gradient: tensor hooks, then ``.grad`` (a new tensor, or
    accumulated into the existing one), then post-accumulate hooks.

    A gradient buffer may reach two leaves (add passes g to both; reshape makes views of it)
    or be the caller's seed: it is copied then, so that in-place updates of one .grad
    (accumulation, clipping, zero_) never show up in another."""

    __slots__ = ("handed",)

    def __init__(self, seeds, active):
        self.handed = {id(_owner(s)) for s in seeds} if active else None

    def __call__(self, t, g):
        hooks = getattr(t, "_hooks", None)
        if hooks:
            g = _run_tensor_hooks(hooks, g)
        if t.grad is None:
            key = id(_owner(g))
            if key in self.handed:
                g = D.run(K.expand, g, g.shape)
                key = id(g)
            self.handed.add(key)
            t.grad = _wrap_grad(g, t)
        else:
            D.run(K.accumulate, g, t.grad._data)
        for h in tuple(getattr(t, "_post_hooks", None) or ()):
            h(t)


def _run_tensor_hooks(hooks, g):
    """Each hook gets the gradient as a Tensor and may return a replacement."""
    for h in tuple(hooks):
        r = h(_wrap_grad(g, None))
        if r is not None:
            r = as_tensor(r)
            if r.shape != g.shape:
                raise RuntimeError(f"hook {h!r} returned a gradient of shape {r.shape}, "
                                   f"expected {g.shape}")
            g = r._data if r._data.dtype == g.dtype else D.run(K.cast, r._data, _empty_like(g))
    return g


def _wrap_grad(g, t):
    if t is not None and g.dtype != t._data.dtype:
        g = D.run(K.cast, g, _empty_like(t._data))
    out = Tensor.__new__(Tensor)
    out._data = g
    out.grad = None
    out._node = None
    out.requires_grad = False
    return out


def _empty_like(a):
    return D.empty(a.shape, CODE[a.dtype])


_FREED = ("freed",)
_FREED_MSG = ("Trying to backward through the graph a second time (or directly access saved "
              "tensors after they have already been freed). Saved intermediate values of the "
              "graph are freed when you call .backward() or autograd.grad(). Specify "
              "retain_graph=True if you need to backward through the graph a second time.")


# ---- the autograd half of Tensor ---------------------------------------------------------------
# How many graph nodes ever got a tensor hook (register_hook / retain_grad on a non-leaf): while
# none did, backward does not look for them.
_node_hooked = [0]
# How many post-accumulate hooks are registered: while none is, backward skips counting each
# leaf's consumers and delivers every leaf at the end (the cheaper path).
_post_hooked = [0]


class RemovableHandle:
    """Returned by the hook registrations; ``remove()`` unregisters (idempotent)."""

    __slots__ = ("_list", "_fn", "_counter")

    def __init__(self, lst, fn, counter=None):
        self._list, self._fn, self._counter = lst, fn, counter

    def remove(self):
        if self._fn in self._list:
            self._list.remove(self._fn)
            if self._counter is not None:
                self._counter[0] -= 1


def _backward_method(self, gradient=None, retain_graph=False):
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
    if not self.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have "
                           "a grad_fn")
    if gradient is None:
        if self._data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs; "
                               f"pass gradient= for a tensor of shape {self.shape}")
        seed = full(self.shape, 1.0, dtype=self.dtype)._data
    else:
        seed = as_tensor(gradient, dtype=self.dtype)._data
        if seed.shape != self.shape:
            raise ValueError(f"backward: gradient shape {seed.shape} does not match "
                             f"tensor shape {self.shape}")
    backward([self], [seed], retain_graph=retain_graph)


def _register_hook(self, hook):
    """``hook(grad) -> Tensor or None`` runs when this tensor's gradient has been computed;
    a returned tensor replaces the gradient (as torch). Returns a handle with ``remove()``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._node is not None:
        if getattr(self._node, "hooks", None) is None:
            self._node.hooks = []
            _node_hooked[0] += 1
        lst = self._node.hooks
    else:
        if getattr(self, "_hooks", None) is None:
            self._hooks = []
        lst = self._hooks
    lst.append(hook)
    return RemovableHandle(lst, hook)


def _register_post_accumulate_grad_hook(self, hook):
    """``hook(tensor)`` runs right after this leaf's ``.grad`` was accumulated in a backward
    pass, as soon as its last contribution arrived (as torch)."""
    if self._node is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if getattr(self, "_post_hooks", None) is None:
        self._post_hooks = []
    self._post_hooks.append(hook)
    _post_hooked[0] += 1
    return RemovableHandle(self._post_hooks, hook, _post_hooked)


class _Retain:
    """The hook behind ``retain_grad``: keeps a non-leaf's gradient in its ``.grad``."""

    __slots__ = ("ref",)

    def __init__(self, t):
        self.ref = weakref.ref(t)

    def __call__(self, g):
        t = self.ref()
        if t is not None:
            if t.grad is None:
                t.grad = _wrap_grad(D.run(K.expand, g._data, g.shape), None)
            else:
                D.run(K.accumulate, g._data, t.grad._data)


def _retain_grad(self):
    """Populate ``.grad`` for this non-leaf tensor during backward (a no-op on leaves)."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self._node is not None and not _retains(self):
        _register_hook(self, _Retain(self))


def _retains(self):
    n = self._node
    return n is not None and any(type(h) is _Retain and h.ref() is self
                                 for h in getattr(n, "hooks", None) or ())


Tensor.backward = _backward_method
Tensor.register_hook = _register_hook
Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
Tensor.retain_grad = _retain_grad
Tensor.retains_grad = property(_retains)

# bind/graph.cpp runs ``make`` (elementwise ops) and bind/backward.cpp ``backward`` for the
# common case in C; they read these objects and Tensor's and Node's slots, and step aside
# whenever a hook is on.
_C.graph_init(Tensor, Node, globals(), vars(D), _C.run, grad_mode, _clock, _FREED, check_saved,
              _backward_name, _unbroadcast, _run_tensor_hooks, K.add, K.accumulate)
