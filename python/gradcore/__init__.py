"""gradcore: a fast CPU engine for neural-network gradients.

Reverse-mode autodiff over C++ kernels (Eigen + OpenMP), with a PyTorch-shaped API::

    import gradcore as gc
    x = gc.randn(4, 3, requires_grad=True)
    (x @ x.T).relu().sum().backward()
    x.grad
"""
import os as _os

from . import _C
from . import dispatch as _dispatch
from .dispatch import show_kernels
from .dtypes import (float32, float64, int64, bool_ as bool, float, double, long,  # noqa: A004
                     get_default_dtype, set_default_dtype)
from .tensor import (Tensor, tensor, from_numpy, as_tensor, empty, zeros, ones, full,
                     zeros_like, ones_like, full_like, empty_like, arange, linspace,
                     manual_seed, get_rng_state, set_rng_state, randn, rand, randint, randperm)
from .generator import Generator, default_generator  # noqa: F401
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled,  # noqa: F401
                       inference_mode)
from .tensor import Size  # noqa: F401
from .device import device, cuda, accelerator, backends, mps  # noqa: F401
from . import autograd
from . import engine as _engine  # noqa: F401  (binds backward and hooks onto Tensor)
from . import ops as _ops
from . import _methods  # noqa: F401  (binds every op's methods and operators onto Tensor)

globals().update(_ops.public.functions())  # gc.add, gc.relu, ... (declared in gradcore.ops)

__version__ = _C.config()["version"]



def get_num_threads():
    return _dispatch.get_num_threads()


def set_num_threads(n):
    """Threads used by gradcore's C++ kernels. gradcore's own setting: OpenMP's global
    thread count (and so torch's or numpy's) is neither read nor changed."""
    _dispatch.set_num_threads(n)


def empty_cache():
    """Give every cached free storage block back to the system (as torch.cuda.empty_cache).
    Live tensors are untouched; the next allocations are fresh."""
    _C.storage_empty_cache()


def memory_stats():
    """The storage allocator's counters: ``allocated_bytes`` (live tensors' storage),
    ``peak_allocated_bytes``, ``cached_bytes`` (free blocks kept for reuse),
    ``cache_limit_bytes`` (the bound: ``GRADCORE_CACHE_LIMIT`` or ``set_cache_limit``),
    ``num_allocs`` and ``num_cache_hits``."""
    return dict(_C.memory_stats())


def set_cache_limit(nbytes):
    """Bound the storage cache to ``nbytes`` of free blocks (0 disables caching); a smaller
    bound frees the excess at once."""
    if int(nbytes) < 0:
        raise ValueError(f"set_cache_limit: nbytes must be >= 0, got {nbytes}")
    _C.set_cache_limit(int(nbytes))


def show_config():
    """Print the build: version, Eigen, OpenMP, threads and SIMD flags."""
    c = _C.config()
    omp = f"yes (OpenMP {c['openmp']})" if c["openmp"] else "NO (single-threaded kernels)"
    print(f"gradcore {c['version']}\n"
          f"  Eigen:       {c['eigen']}\n"
          f"  OpenMP:      {omp}\n"
          f"  threads:     {c['num_threads']}"
          + (" (halved while other processes keep the cores busy: now "
             + ("halved" if c["cores_shared"] else "all") + "; GRADCORE_ADAPTIVE_THREADS=0 "
             "turns this off)" if c["adaptive_threads"] else " (fixed)") + "\n"
          f"  SIMD path:   _C_{_C.variant} ({c['simd'] or 'baseline x86-64'}; CPU level "
          f"x86-64-v{_C.cpu_level()}; GRADCORE_SIMD forces a path)\n"
          f"  compiler:    GCC {c['compiler']}")


_n = _os.environ.get("GRADCORE_NUM_THREADS")
if _n:
    set_num_threads(int(_n))
del _n

from . import data, train  # noqa: E402
from .serialization import save, load  # noqa: E402
from . import nn  # noqa: E402
from . import optim  # noqa: E402
from . import profiler  # noqa: E402
from .compile import compile, CompileError  # noqa: E402, A004
from . import utils  # noqa: E402  (gradcore.utils.data, as torch.utils.data)
from . import _porting  # noqa: E402

pi, e, inf, nan = _porting.pi, _porting.e, _porting.inf, _porting.nan
linalg = _porting.linalg
__getattr__ = _porting.module_getattr
from . import distributed  # noqa: E402  (mpi4py is imported by distributed.init() only)
from . import diagnostics  # noqa: E402
from . import interpret  # noqa: E402  (numpy only; matplotlib is imported by its plots)
