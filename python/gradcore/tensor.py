"""gc.Tensor: an n-d array (a C-contiguous numpy array over storage owned by the C++ core, or
shared with the user's numpy array) plus its place in the autograd graph."""
import numpy as np

from . import dtypes as _dt
from . import dispatch as D
from .dispatch import K


# Set by gc.compile while it records a call: called with a description before any tensor value
# is handed to Python (item(), bool(), numpy(), ...), which a replay could not repeat.
read_guard = None


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

    @data.setter
    def data(self, value):
        """``t.data = other``: t now holds other's storage (shape and dtype may change)."""
        v = value if isinstance(value, Tensor) else as_tensor(value)
        self._data = v._data

    @property
    def _version(self):
        """How many in-place ops modified this tensor's storage (as torch's ``t._version``)."""
        from .versions import version
        return version(self._data)

    @property
    def device(self):
        from .device import CPU
        return CPU

    is_cuda = False
    is_sparse = False
    is_quantized = False

    def size(self, dim=None):
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __repr__(self):
        body = _format_array(self._data)
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

    def __format__(self, spec):
        if self._data.size == 1 and self._data.ndim <= 1 or (spec and self._data.size == 1):
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} passed to Tensor.__format__ "
                            f"(a tensor of shape {self._data.shape}); format t.item() for "
                            "one-element tensors, or t.tolist()")
        return repr(self)

    __hash__ = object.__hash__

    # ---- numpy interop ----------------------------------------------------------------
    def numpy(self):
        """The tensor's data as a numpy array sharing memory (no copy)."""
        if read_guard is not None:
            read_guard("numpy()")
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if read_guard is not None:
            read_guard("conversion to a numpy array")
        a = self._data
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if read_guard is not None:
            read_guard("item()")
        if self._data.size != 1:
            raise ValueError(f"item(): a Tensor with {self._data.size} elements cannot be "
                             "converted to a Python scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        if read_guard is not None:
            read_guard("tolist()")
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if read_guard is not None:
            read_guard("bool(), e.g. `if tensor:`")
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

    # zero_, fill_, uniform_, normal_, copy_ and the other in-place ops: ops/inplace.py

    def contiguous(self, memory_format=None):
        return self

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        from .device import _no_cuda
        _no_cuda()

    def pin_memory(self):
        return self

    def is_contiguous(self, memory_format=None):
        return True

    def element_size(self):
        return self._data.itemsize

    def type(self, dtype=None, non_blocking=False):  # noqa: A003
        """``t.type()`` names the tensor type as torch ('torch.FloatTensor'); ``t.type(d)``
        converts to dtype d (a dtype or a torch type name)."""
        if dtype is None:
            return _TYPE_NAMES[str(self._data.dtype)]
        if isinstance(dtype, str) and dtype in _TYPE_DTYPES:
            dtype = _TYPE_DTYPES[dtype]
        return self.to(dtype)


_TYPE_NAMES = {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
               "int64": "torch.LongTensor", "bool": "torch.BoolTensor"}
_TYPE_DTYPES = {v: np.dtype(k) for k, v in _TYPE_NAMES.items()}
_TYPE_DTYPES.update({k.replace("torch.", "gradcore."): v for k, v in _TYPE_DTYPES.items()})


class Size(tuple):
    """A shape, as torch.Size: a tuple that prints as ``gradcore.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self):
        return f"gradcore.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _format_array(a):
    """numpy's text in torch's style: 4 decimals unless every value is an integer, scientific
    notation for very large or small magnitudes."""
    opts = {"separator": ", ", "prefix": "tensor(", "threshold": 1000, "edgeitems": 3}
    if a.dtype.kind == "f" and a.size:
        fin = a[np.isfinite(a)]
        if fin.size and not np.all(fin == np.round(fin)):
            m = np.abs(fin[fin != 0]) if np.any(fin != 0) else np.zeros(1)
            sci = m.size and (m.max() >= 1e8 or m.min() < 1e-4)
            opts.update(precision=4, floatmode="fixed", suppress_small=False)
            if sci:
                opts["formatter"] = {"float_kind": lambda v: f"{v:.4e}"}
        elif fin.size and np.abs(fin).max(initial=0) >= 1e8:
            opts["formatter"] = {"float_kind": lambda v: f"{v:.4e}"}
    return np.array2string(a, **opts)


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


def _device(d):
    if d is not None:
        from .device import check
        check(d)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (list, scalar, numpy array or Tensor).
    Python floats become float32, ints int64, bools bool; numpy arrays keep their dtype."""
    _device(device)
    if isinstance(data, Tensor):
        a = data._data
    elif isinstance(data, (np.ndarray, np.generic)):  # numpy arrays and scalars keep their dtype
        a = np.asarray(data)
    else:
        a = np.asarray(data)
        if a.dtype.kind == "f":
            a = a.astype(_dt.get_default_dtype())
        elif a.dtype.kind == "O":
            if isinstance(data, (list, tuple)) and data and all(isinstance(x, Tensor)
                                                                for x in data):
                raise TypeError("tensor: got a list of tensors; use gc.stack(list) (torch "
                                "also prefers torch.stack for this)")
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


def as_tensor(x, dtype=None, device=None):
    """Tensor as-is, numpy array shared when possible (copied otherwise), anything else copied."""
    if device is not None:
        _device(device)
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


def empty(*shape, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    t = _wrap(_empty(_shape_args(shape), _dt.canonical(dtype) or _dt.get_default_dtype()))
    return t.requires_grad_() if requires_grad else t


def full(shape, fill_value, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    if dtype is None:
        dtype = (_dt.bool_ if isinstance(fill_value, bool) else _dt.int64
                 if isinstance(fill_value, int) else _dt.get_default_dtype())
    shape = _shape_args((shape,) if isinstance(shape, (tuple, list)) else (shape,))
    d = _empty(shape, _dt.canonical(dtype))
    D.run(K.fill, d, float(fill_value))
    t = _wrap(d)
    return t.requires_grad_() if requires_grad else t


def zeros(*shape, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    return full(_shape_args(shape), 0.0, dtype=dtype or _dt.get_default_dtype(),
                requires_grad=requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    return full(_shape_args(shape), 1.0, dtype=dtype or _dt.get_default_dtype(),
                requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    t = as_tensor(t)
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    t = as_tensor(t)
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    t = as_tensor(t)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    t = as_tensor(t)
    return empty(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    if end is None:
        start, end = 0, start
    a = np.arange(start, end, step)
    if dtype is None and a.dtype.kind == "f":
        dtype = _dt.get_default_dtype()
    return tensor(a, dtype=dtype, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
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


def randn(*shape, dtype=None, device=None, requires_grad=False, generator=None, **_kw):
    _device(device)
    _kw_check(_kw)
    t = empty(*shape, dtype=dtype)
    _check_float_dtype("randn", t)
    D.run(K.normal, _gen_state(generator, "randn"), t._data, 0.0, 1.0)
    return t.requires_grad_() if requires_grad else t


def rand(*shape, dtype=None, device=None, requires_grad=False, generator=None, **_kw):
    _device(device)
    _kw_check(_kw)
    t = empty(*shape, dtype=dtype)
    _check_float_dtype("rand", t)
    D.run(K.uniform, _gen_state(generator, "rand"), t._data, 0.0, 1.0)
    return t.requires_grad_() if requires_grad else t


def randint(low, high=None, size=(), dtype=None, device=None, generator=None,
            requires_grad=False, **_kw):
    _device(device)
    _kw_check(_kw)
    if isinstance(high, (tuple, list)):  # randint(high, size), as torch
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if not high > low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    d = _empty(_shape_args((size,) if not isinstance(size, int) else (size,)), _dt.int64)
    D.run(K.randint, _gen_state(generator, "randint"), d, float(high - low))
    t = _wrap(d)
    return _wrap(d + int(low)) if low else t


def randperm(n, dtype=None, device=None, generator=None, **_kw):
    _device(device)
    _kw_check(_kw)
    keys = rand(n, dtype=_dt.float64, generator=generator)._data
    return _wrap(np.argsort(keys, kind="stable").astype(np.int64))


def _kw_check(kw):
    """torch's layout=/pin_memory=/memory_format=/generator= are accepted (CPU, dense)."""
    for k in kw:
        if k not in ("layout", "pin_memory", "memory_format", "generator", "out"):
            raise TypeError(f"got an unexpected keyword argument {k!r}")
    if kw.get("out") is not None:
        raise TypeError("out= is not supported by gradcore: assign the result instead "
                        "(y = gc.op(...)), or copy into an existing tensor with y.copy_(...)")
