"""gradcore dtypes are numpy dtypes: float32 (default), float64, int64, bool."""
import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
float = float32   # noqa: A001  (torch.float)
double = float64
long = int64

# Codes shared with the C++ core (csrc/core/view.h DType).
CODE = {float32: 0, float64: 1, int64: 2, bool_: 3}
FLOATS = (float32, float64)
_default = [float32]


def get_default_dtype():
    return _default[0]


def set_default_dtype(d):
    d = np.dtype(d)
    if d not in FLOATS:
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {d}")
    _default[0] = d


def canonical(dtype):
    """Map a user dtype (gc/numpy dtype, numpy type, 'float32', ...) to a gradcore dtype."""
    if dtype is None:
        return None
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unsupported dtype {dtype!r}") from None
    if d in CODE:
        return d
    raise TypeError(f"unsupported dtype {d}: gradcore tensors are float32, float64, int64 or bool")


def promote(a, b):
    """Result dtype of a binary float op (torch's promotion on gradcore's dtypes)."""
    if a == b:
        return a
    if a in FLOATS and b in FLOATS:
        return float64
    if a in FLOATS:
        return a
    if b in FLOATS:
        return b
    return int64
