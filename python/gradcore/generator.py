"""Random-number generators (as ``torch.Generator``).

A generator's whole state is a 2-element int64 array ``(seed, offset)`` (the bits of two
uint64). The random kernels (``uniform``, ``normal``, ``dropout_mask``, ``randint``) take it as
an in-place input and advance the offset by the numbers they draw: element i of a draw is a
pure function of ``(seed, offset + i)``, so results depend on neither the thread count nor the
chunking, a recorded step replays with fresh draws, and two generators used from two threads
share nothing. ``default_generator`` is the global one (``gc.manual_seed``)."""
import os

from . import dispatch as D
from . import dtypes as _dt
from .dispatch import K

_MASK = 0xFFFFFFFFFFFFFFFF
_DEFAULT_SEED = 67280421310721


def _i64(v):
    """uint64 bits as the int64 numpy stores them."""
    v &= _MASK
    return v - (1 << 64) if v >= 1 << 63 else v


class Generator:
    """``Generator()``: a counter-based generator seeded with torch's default seed.
    ``manual_seed(s)`` (returns self), ``seed()`` (a fresh random seed, returned),
    ``initial_seed()``, ``get_state()`` / ``set_state(t)`` (an int64 tensor ``(seed, offset)``)."""

    __slots__ = ("_state", "_initial", "__weakref__")

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: gradcore runs on the CPU only, got device {device!r}")
        self._state = D.empty((2,), _dt.CODE[_dt.int64])
        self.manual_seed(_DEFAULT_SEED)

    def _set(self, seed, offset):
        import numpy as np
        D.run(K.expand, np.array([_i64(seed), _i64(offset)], dtype=np.int64), self._state)

    def manual_seed(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, int):
            try:
                seed = int(seed)
            except (TypeError, ValueError):
                raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}") \
                    from None
        self._initial = int(seed) & _MASK
        self._set(self._initial, 0)
        return self

    def seed(self):
        s = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._initial

    def get_state(self):
        from .tensor import _wrap
        return _wrap(D.run(K.expand, self._state, (2,)))

    def set_state(self, new_state):
        from .tensor import as_tensor
        d = as_tensor(new_state)._data
        if d.dtype != _dt.int64 or d.shape != (2,):
            raise ValueError(f"Generator.set_state: expected an int64 tensor of shape (2,) "
                             f"(from get_state()), got {d.dtype} {d.shape}")
        D.run(K.expand, d, self._state)
        self._initial = int(d[0]) & _MASK
        return self

    # the state as a (seed, offset) pair of Python ints (gc.get_rng_state's format)
    def _pair(self):
        return int(self._state[0]) & _MASK, int(self._state[1]) & _MASK

    def __repr__(self):
        return f"<gradcore.Generator seed={self._initial}>"


default_generator = Generator()


def state_of(generator, op="random"):
    """The state array a random kernel advances: ``generator``'s, or the default's for None."""
    if generator is None:
        return default_generator._state
    if not isinstance(generator, Generator):
        raise TypeError(f"{op}: generator must be a gradcore.Generator, got "
                        f"{type(generator).__name__}")
    return generator._state
