"""One declaration per op gives all its public names.

    @public(method=True, operators=("__add__",), reflected=("__radd__",))
    def add(a, b, alpha=1): ...

makes ``gc.add``, ``Tensor.add``, ``a + b`` and ``2 + a``; ``functional=True`` adds
``gc.nn.functional.<name>``; ``aliases`` adds more ``gc.`` names (``clip`` for ``clamp``);
``function=False`` keeps it off the ``gc`` namespace (functional-only ops such as losses).
``method`` is True (the op's own name), a name, or a list of names and ``(name, adapter)``
pairs (an adapter when the method's arguments differ: ``x.where(cond, y)``). ``gradcore/__init__.py``, ``_methods.py`` and
``nn/functional.py`` build their namespaces from ``EXPORTS``.
"""
from typing import Callable, NamedTuple


class Export(NamedTuple):
    fn: Callable
    functions: tuple      # gc.<name>
    methods: tuple        # (name, callable) bound onto Tensor
    functional: tuple     # gc.nn.functional.<name>


EXPORTS = []


def _reflect(f):
    return lambda self, other: f(other, self)


def public(fn=None, *, method=False, function=True, functional=False, aliases=(),
           operators=(), reflected=()):
    def declare(f):
        name = f.__name__
        methods = []
        if method:
            if method is True:
                methods.append((name, f))
            elif isinstance(method, str):
                methods.append((method, f))
            else:
                methods += [(m, f) if isinstance(m, str) else m for m in method]
        methods += [(op, f) for op in operators] + [(op, _reflect(f)) for op in reflected]
        names = ((name,) + tuple(aliases)) if function else ()
        EXPORTS.append(Export(f, names, tuple(methods), (name,) if functional else ()))
        return f
    return declare(fn) if fn is not None else declare


def functions():
    """{name: function} of everything exported on the ``gc`` namespace."""
    return {n: e.fn for e in EXPORTS for n in e.functions}


def functional():
    return {n: e.fn for e in EXPORTS for n in e.functional}
