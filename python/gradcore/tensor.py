"""gc.Tensor: an n-d array (a C-contiguous numpy array over storage owned by the C++ core, or
shared with the user's numpy array) plus its place in the autograd graph."""
import numpy as np

from . import dtypes as _dt
from . import dispatch as D
from .dispatch import K


class Tensor:
    """n-d array with reverse-mode autodiff. Build with ``gc.tensor``, ``gc.zeros``, ...

    >>> x = gc.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    __slots__ = ("_data", "grad", "_node", "requires_grad", "_hooks", "_post_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy defers to Tensor's reflected operators

    def __init__(self, data, dtype=None, requires_grad=False):
        t = tensor(data, dtype=dtype, requires_grad=requires_grad)
        self._data, self.grad, self._node, self.requires_grad = t._data, None, None, requires_grad

    # ---- metadata ---------------------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def data(self):
        """A detached tensor sharing this tensor's storage (as torch's ``.data``)."""
        return _wrap(self._data)

    @property
    def device(self):
        return "cpu"

    def size(self, dim=None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ""
        if self._data.size == 0 and self._data.shape != (0,):
            extra += f", size={self._data.shape}"
        if self._data.dtype == _dt.float64:  # as torch: int64 and bool are implied by the values
            extra += ", dtype=gradcore.float64"
        if self._node is not None:
            extra += f", grad_fn={self._node!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- numpy interop ----------------------------------------------------------------
    def numpy(self):
        """The tensor's data as a numpy array sharing memory (no copy)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item(): a Tensor with {self._data.size} elements cannot be "
                             "converted to a Python scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is "
                               "ambiguous")
        return bool(self.item())

    def __index__(self):
        if self._data.dtype != _dt.int64 or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    # ---- autograd -----------------------------------------------------------------------
    def detach(self):
        return _wrap(self._data)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype not in _dt.FLOATS:
            raise RuntimeError(f"only floating point tensors can require gradients, got "
                               f"{self._data.dtype}")
        if self._node is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables")
        self.requires_grad = requires_grad
        return self

    def zero_(self):
        D.run(K.fill, self._data, 0.0)
        return self

    def fill_(self, value):
        D.run(K.fill, self._data, float(value))
        return self

    def uniform_(self, from_=0.0, to=1.0, *, generator=None):
        """Fill in place with U(from_, to) from ``generator`` (default: the global one)."""
        D.run(K.uniform, _gen_state(generator, "uniform_"), self._data, low=float(from_),
              high=float(to))
        return self

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill in place with N(mean, std^2) from ``generator`` (default: the global one)."""
        D.run(K.normal, _gen_state(generator, "normal_"), self._data, mean=float(mean),
              std=float(std))
        return self

    def copy_(self, src):
        src = as_tensor(src)
        if src.shape != self.shape:
            src = src.expand(self.shape)
        if src.dtype != self.dtype:
            D.run(K.cast, src._data, self._data)
        else:
            D.run(K.expand, src._data, self._data)
        return self

    def contiguous(self):
        return self

    def cpu(self):
        return self


def _wrap(data, requires_grad=False):
    t = Tensor.__new__(Tensor)
    t._data = data
    t.grad = None
    t._node = None
    t.requires_grad = requires_grad
    return t


def _empty(shape, dtype):
    return D.empty(shape, _dt.CODE[dtype])


def _infer_dtype(a):
    """numpy array -> gradcore dtype, as torch.from_numpy/tensor infer it."""
    k = a.dtype.kind
    if a.dtype in _dt.CODE:
        return a.dtype
    if k == "f":
        return _dt.float32 if a.dtype.itemsize <= 4 else _dt.float64
    if k in "iu":
        return _dt.int64
    if k == "b":
        return _dt.bool_
    raise TypeError(f"cannot make a tensor from a numpy array of dtype {a.dtype}")


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (list, scalar, numpy array or Tensor).
    Python floats become float32, ints int64, bools bool; numpy arrays keep their dtype."""
    if isinstance(data, Tensor):
        a = data._data
    elif isinstance(data, (np.ndarray, np.generic)):  # numpy arrays and scalars keep their dtype
        a = np.asarray(data)
    else:
        a = np.asarray(data)
        if a.dtype.kind == "f":
            a = a.astype(_dt.get_default_dtype())
        elif a.dtype.kind == "O":
            raise TypeError("tensor: data must be numbers, nested lists of numbers or an array")
    d = _dt.canonical(dtype) or _infer_dtype(a)
    out = _empty(a.shape, d)
    np.copyto(out, a, casting="unsafe")
    t = _wrap(out)
    if requires_grad:
        t.requires_grad_()
    return t


def from_numpy(a):
    """A tensor sharing memory with the C-contiguous numpy array ``a`` (float32, float64, int64
    or bool). Mutations are visible both ways."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _dt.CODE:
        raise TypeError(f"from_numpy: dtype {a.dtype} is not supported (float32, float64, "
                        "int64, bool)")
    if not a.flags.c_contiguous or not a.flags.aligned or a.dtype.byteorder == ">":
        raise ValueError("from_numpy: the array must be C-contiguous, aligned and native-endian "
                         "to be shared; use gc.tensor(a) to copy it")
    return _wrap(a)


def as_tensor(x, dtype=None):
    """Tensor as-is, numpy array shared when possible (copied otherwise), anything else copied."""
    if type(x) is Tensor:
        if dtype is not None and x._data.dtype != dtype:
            return x.to(dtype)
        return x
    if isinstance(x, np.ndarray):
        if (x.dtype in _dt.CODE and x.flags.c_contiguous and x.flags.aligned
                and (dtype is None or x.dtype == dtype)):
            return _wrap(x)
        return tensor(x, dtype=dtype)
    if isinstance(x, Tensor):  # subclasses (nn.Parameter)
        return x if dtype is None or x._data.dtype == dtype else x.to(dtype)
    return tensor(x, dtype=dtype)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return shape


def empty(*shape, dtype=None, requires_grad=False):
    t = _wrap(_empty(_shape_args(shape), _dt.canonical(dtype) or _dt.get_default_dtype()))
    return t.requires_grad_() if requires_grad else t


def full(shape, fill_value, dtype=None, requires_grad=False):
    if dtype is None:
        dtype = (_dt.bool_ if isinstance(fill_value, bool) else _dt.int64
                 if isinstance(fill_value, int) else _dt.get_default_dtype())
    shape = _shape_args((shape,) if isinstance(shape, (tuple, list)) else (shape,))
    d = _empty(shape, _dt.canonical(dtype))
    D.run(K.fill, d, float(fill_value))
    t = _wrap(d)
    return t.requires_grad_() if requires_grad else t


def zeros(*shape, dtype=None, requires_grad=False):
    return full(_shape_args(shape), 0.0, dtype=dtype or _dt.get_default_dtype(),
                requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return full(_shape_args(shape), 1.0, dtype=dtype or _dt.get_default_dtype(),
                requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    t = as_tensor(t)
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    t = as_tensor(t)
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    t = as_tensor(t)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def empty_like(t, dtype=None, requires_grad=False):
    t = as_tensor(t)
    return empty(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    a = np.arange(start, end, step)
    if dtype is None and a.dtype.kind == "f":
        dtype = _dt.get_default_dtype()
    return tensor(a, dtype=dtype, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    return tensor(np.linspace(start, end, steps), dtype=dtype or _dt.get_default_dtype(),
                  requires_grad=requires_grad)


# ---- the global generator (csrc/core/rng.cpp) ----------------------------------------------
def manual_seed(seed):
    """Seed the one global generator; the same seed gives the same numbers on every thread count."""
    D.manual_seed(seed)


get_rng_state, set_rng_state = D.get_rng_state, D.set_rng_state


def _gen_state(generator, op):
    from .generator import state_of
    return state_of(generator, op)


def _check_float_dtype(op, t):
    if t._data.dtype not in _dt.FLOATS:
        raise TypeError(f"{op}: expected a float dtype, got {t._data.dtype}")


def randn(*shape, dtype=None, requires_grad=False, generator=None):
    t = empty(*shape, dtype=dtype)
    _check_float_dtype("randn", t)
    D.run(K.normal, _gen_state(generator, "randn"), t._data, 0.0, 1.0)
    return t.requires_grad_() if requires_grad else t


def rand(*shape, dtype=None, requires_grad=False, generator=None):
    t = empty(*shape, dtype=dtype)
    _check_float_dtype("rand", t)
    D.run(K.uniform, _gen_state(generator, "rand"), t._data, 0.0, 1.0)
    return t.requires_grad_() if requires_grad else t


def randint(low, high=None, size=(), dtype=None, generator=None):
    if high is None:
        low, high = 0, low
    if not high > low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    d = _empty(_shape_args((size,) if not isinstance(size, int) else (size,)), _dt.int64)
    D.run(K.randint, _gen_state(generator, "randint"), d, float(high - low))
    t = _wrap(d)
    return _wrap(d + int(low)) if low else t


def randperm(n, generator=None):
    keys = rand(n, dtype=_dt.float64, generator=generator)._data
    return _wrap(np.argsort(keys, kind="stable").astype(np.int64))
