"""Version counters: every storage's count of in-place modifications (torch's ``t._version``).

``bump(array, op)`` is called by every in-place op (``bump_many`` by optimizer steps). A storage
is keyed by its owning array (numpy points views at it); its entry [clock, count, op, weakref]
disappears with the array. A graph Node records the clock when it is made; backward calls
``check_saved`` only when the clock has moved since, so the common path (no in-place op) costs
one integer comparison per node.
"""
import weakref

import numpy as _np

_clock = [0]
_modified = {}


def _storage(a):
    b = a.base
    return b if isinstance(b, _np.ndarray) else a


def bump(a, op):
    """Record an in-place modification of array ``a``'s storage by ``op``."""
    o = _storage(a)
    _clock[0] += 1
    k = id(o)
    e = _modified.get(k)
    if e is not None and e[3]() is o:
        e[0], e[2] = _clock[0], op
        e[1] += 1
        return
    _modified[k] = [_clock[0], 1, op, weakref.ref(o, lambda r, k=k: _forget(k, r))]


def bump_many(arrays, op):
    """``bump`` for many storages at once (an optimizer step updates every parameter)."""
    _clock[0] += 1
    c = _clock[0]
    for a in arrays:
        o = _storage(a)
        k = id(o)
        e = _modified.get(k)
        if e is not None and e[3]() is o:
            e[0], e[2] = c, op
            e[1] += 1
        else:
            _modified[k] = [c, 1, op, weakref.ref(o, lambda r, k=k: _forget(k, r))]


def _forget(k, r):
    e = _modified.get(k)
    if e is not None and e[3] is r:
        del _modified[k]


def version(a):
    """How many in-place ops modified array ``a``'s storage (torch's ``t._version``)."""
    o = _storage(a)
    e = _modified.get(id(o))
    return e[1] if e is not None and e[3]() is o else 0


def check_saved(n, backward_name):
    """Raise if a saved array of node ``n`` was modified in place after ``n`` was made."""
    for a in n.saved:
        if type(a) is not _np.ndarray:
            continue
        o = _storage(a)
        e = _modified.get(id(o))
        if e is not None and e[0] > n.stamp and e[3]() is o:
            if e[2].endswith(".step"):
                raise RuntimeError(
                    f"a tensor needed for gradient computation was modified by an in-place "
                    f"operation: the {tuple(a.shape)} {a.dtype} parameter saved by "
                    f"{backward_name(n.prim.name)} was updated by {e[2]}() (now at version "
                    f"{e[1]}) after the forward pass that saved it. Call backward() before the "
                    f"optimizer step, or run the forward pass again after it.")
            raise RuntimeError(
                f"a tensor needed for gradient computation was modified by an in-place "
                f"operation: the {tuple(a.shape)} {a.dtype} tensor saved by "
                f"{backward_name(n.prim.name)} was modified by {e[2]} (now at version "
                f"{e[1]}). Use the out-of-place op (e.g. x = x.{e[2].rstrip('_')}(...) instead "
                f"of x.{e[2]}(...) or x += ...), or .clone() the tensor before modifying it.")
