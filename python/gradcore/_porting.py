"""What a script ported from PyTorch meets beyond the ops: constants, ``gc.linalg``, and
messages for torch names gradcore does not have (module ``__getattr__`` on ``gradcore``,
``Tensor.__getattr__``): each names the PyTorch idiom and the gradcore way."""
import math
import types

pi, e, inf, nan = math.pi, math.e, math.inf, math.nan

linalg = types.ModuleType("gradcore.linalg", "torch.linalg's norms.")


def _linalg():
    from .ops import more
    linalg.norm = more._linalg_norm
    linalg.vector_norm = more._vector_norm
    linalg.matrix_norm = more._matrix_norm


_linalg()

_DTYPES = ("int8 int16 int32 int uint8 uint16 uint32 uint64 float16 half bfloat16 complex64 "
           "complex128 cfloat cdouble short qint8 quint8 float8_e4m3fn").split()
_HINTS = {
    "jit": "torch.jit (TorchScript) has no gradcore counterpart; gc.compile(fn) records and "
           "replays a training step instead",
    "fft": "torch.fft is not implemented in gradcore",
    "sparse": "sparse tensors are not implemented in gradcore; use dense tensors",
    "distributions": "torch.distributions is not implemented in gradcore; sample with "
                     "gc.randn / gc.rand and write log-probabilities as tensor ops",
    "onnx": "ONNX export is not available; gc.save writes a pickle-free checkpoint",
    "amp": "mixed precision (torch.amp / autocast) does not apply: gradcore computes in "
           "float32 or float64 on the CPU",
    "autocast": "mixed precision (autocast) does not apply: gradcore computes in float32 or "
                "float64 on the CPU",
    "hub": "torch.hub downloads models; gradcore loads torch weights from a state dict: "
           "model.load_state_dict({k: v.numpy() for k, v in torch_sd.items()})",
    "vmap": "torch.vmap is not implemented; write the batch dimension explicitly",
    "func": "torch.func is not implemented; use gc.autograd.grad",
    "conv2d": "convolutions are not part of this gradcore build",
    "set_float32_matmul_precision": "gradcore's float32 matmul is always full float32",
}


def module_getattr(name):
    if name.startswith("__"):
        raise AttributeError(f"module 'gradcore' has no attribute {name!r}")
    if name in _DTYPES:
        msg = (f"gradcore has no dtype {name!r}: tensors are float32 (gc.float32, the default), "
               "float64 (gc.float64 / gc.double), int64 (gc.int64 / gc.long) or bool "
               "(gc.bool); int32 and uint8 are out of scope, use gc.long for integers")
    elif name in _HINTS:
        msg = f"gradcore has no {name!r}: {_HINTS[name]}"
    else:
        msg = (f"module 'gradcore' has no attribute {name!r}: torch.{name} has no gradcore "
               "equivalent yet. gradcore implements PyTorch's CPU training API: see "
               "docs/api.md for every name and docs/porting.md for what differs")
    raise AttributeError(msg)


# No Tensor.__getattr__: defining one makes CPython route every attribute read of every tensor
# through a slower slot (measured: +10% per op on the tiny-chain benchmark).
