"""Devices, spoken as torch speaks them, for a CPU-only engine: ``gc.device("cpu")``,
``device=`` arguments, ``t.to(device, dtype)``, ``gc.cuda.is_available()`` (False),
``gc.accelerator``. Any device other than the CPU raises an error that says so."""
import types

from . import dtypes as _dt

_CPU_ONLY = ("gradcore runs on the CPU only: device {spec!r} is not available. Use 'cpu', or "
             "keep torch's usual `device = 'cuda' if torch.cuda.is_available() else 'cpu'` "
             "(gc.cuda.is_available() is False).")


class device:
    """``gc.device("cpu")`` / ``gc.device("cpu", 0)`` / ``gc.device("cpu:0")``."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError(_CPU_ONLY.format(spec=f"cuda:{type}"))
        elif not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu', got {type!r}")
        spec = type
        if ":" in type:
            type, _, idx = type.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: {spec!r}") from None
        if type != "cpu":
            raise RuntimeError(_CPU_ONLY.format(spec=spec))
        object.__setattr__(self, "type", "cpu")
        object.__setattr__(self, "index", index)

    def __setattr__(self, k, v):
        raise AttributeError("gc.device is immutable")

    def __repr__(self):
        return "device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"

    def __str__(self):
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and other.type == self.type and (
            self.index is None or other.index is None or self.index == other.index)

    def __hash__(self):
        return hash("cpu")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


CPU = device("cpu")


def check(spec, where=""):
    """Accept None / 'cpu' / gc.device('cpu') (torch devices too); raise for anything else."""
    if spec is None or spec is CPU:
        return CPU
    if isinstance(spec, device):
        return spec
    if type(spec).__name__ == "device" and getattr(spec, "type", None) is not None:  # torch's
        spec = str(spec)
    try:
        return device(spec)
    except RuntimeError as e:
        raise RuntimeError(f"{where}: {e}" if where else str(e)) from None


def is_device_spec(a):
    if isinstance(a, device):
        return True
    if isinstance(a, str):
        return a.split(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "npu",
                                   "privateuseone", "ipu", "mtia", "hpu")
    if isinstance(a, int) and not isinstance(a, bool):
        return True
    return type(a).__name__ == "device"


def parse_to(t, args, kwargs):
    """The dtype of ``t.to(...)`` (None: unchanged); devices are checked. Accepts torch's forms:
    to(dtype), to(device), to(device, dtype), to(other_tensor), keywords dtype=/device=,
    non_blocking=, copy=, memory_format=."""
    from .tensor import Tensor
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    for k in ("non_blocking", "copy", "memory_format"):
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, bool) or a is None:
            continue  # non_blocking / copy given positionally
        elif is_device_spec(a):
            dev = a
        else:
            dtype = a
    if dev is not None:
        check(dev, "to")
    return _dt.canonical(dtype) if dtype is not None else None


def _no_cuda(*args, **kwargs):
    raise RuntimeError(_CPU_ONLY.format(spec="cuda"))


cuda = types.ModuleType("gradcore.cuda", "torch.cuda's questions, answered for a CPU-only engine.")
cuda.is_available = lambda: False
cuda.device_count = lambda: 0
cuda.is_initialized = lambda: False
cuda.manual_seed = lambda seed: None
cuda.manual_seed_all = lambda seed: None
cuda.synchronize = lambda device=None: None
cuda.empty_cache = lambda: None
cuda.current_device = _no_cuda
cuda.get_device_name = _no_cuda
cuda.set_device = _no_cuda

accelerator = types.ModuleType("gradcore.accelerator", "torch.accelerator: none on gradcore.")
accelerator.is_available = lambda: False
accelerator.current_accelerator = lambda check_available=False: None
accelerator.device_count = lambda: 0

backends = types.ModuleType("gradcore.backends", "torch.backends: only the CPU.")
backends.mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
backends.cuda = types.SimpleNamespace(is_built=lambda: False)
backends.cudnn = types.SimpleNamespace(is_available=lambda: False, enabled=False,
                                       benchmark=False, deterministic=False)
mps = types.ModuleType("gradcore.mps", "torch.mps: not available.")
mps.is_available = lambda: False
