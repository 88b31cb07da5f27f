"""The op registry: one entry per differentiable primitive, holding its backward rule.

Forward code calls C++ kernels only through ``dispatch.run`` (the one door into the C++
kernel registry); backward rules do the same, so a recorder or profiler installed on the
dispatcher sees every computation of a training step (see docs/ARCHITECTURE.md).
"""


class Primitive:
    """A differentiable primitive: a name and its vector-Jacobian product.

    ``vjp(g, needs, *saved)`` gets the output gradient ``g`` (a numpy array with the output's
    shape), ``needs`` (one bool per input: does that input want a gradient) and whatever the
    forward saved; it returns one gradient (array or None) per input. Gradients may have the
    broadcast output shape: the engine sums them back to each input's shape.
    """

    __slots__ = ("name", "vjp", "table")

    def __init__(self, name):
        self.name = name
        self.vjp = None
        self.table = None

    def defvjp(self, fn):
        self.vjp = fn
        return fn

    def defvjp_table(self, *entries, attrs=None):
        """A rule that is one kernel (or nothing) per input, given as a table the C backward
        walk runs without Python (bind/backward.cpp) and ``vjp`` runs as Python. Per input:
        ``None`` (no gradient), ``True`` (the output gradient itself) or ``(kernel, ...)``
        with ints i naming saved arrays and floats c constant attributes:
        ``kernel(g, saved[i], ..., g.shape, c, ..., *saved[attrs])`` (at most three saved
        arrays), attrs being the index of a saved tuple of numeric attributes (or None)."""
        from . import dispatch as D
        self.table = (entries, attrs)
        calls = [e if e is None or e is True else
                 (e[0], [i for i in e[1:] if type(i) is int],
                  [c for c in e[1:] if type(c) is float])
                 for e in entries]

        def vjp(g, needs, *saved):
            extra = () if attrs is None else saved[attrs]
            return tuple(None if e is None or not needs[k] else g if e is True else
                         D.run(e[0], g, *[saved[i] for i in e[1]], g.shape, *e[2], *extra)
                         for k, e in enumerate(calls))
        self.vjp = vjp
        return vjp

    def __repr__(self):
        return f"<primitive {self.name}>"


PRIMITIVES = {}


def primitive(name):
    """Create and register the primitive ``name``; attach its rule with ``@p.defvjp``."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} registered twice")
    p = PRIMITIVES[name] = Primitive(name)
    return p
