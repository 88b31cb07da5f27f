"""Pooling and upsampling over NCHW planes (csrc/kernels/pool.cpp, upsample.cpp).

    max_pool2d:           y = max over each window, idx = argmax (h*W + w)    dx[idx] += g
    avg_pool2d:           y = window sum / divisor                            dx[window] += g / divisor
    adaptive_avg_pool2d:  y = mean over bin [floor(i*H/Ho), ceil((i+1)*H/Ho)) x (same for W)
    interpolate:          nearest / bilinear (linear for 3-D input) with torch's index formulas;
                          dx = the transposed scatter of g.
Every op takes a batched (N, C, H, W) or unbatched (C, H, W) input (interpolate: (N, C, [H,] W)).
"""
import math

import numpy as np

from ..engine import make
from .public import public
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _wrap, as_tensor
from .conv import _tuple
from .elementwise import _check_float

_max_pool, _avg_pool, _adaptive_avg = (primitive("max_pool2d"), primitive("avg_pool2d"),
                                       primitive("adaptive_avg_pool2d"))
_nearest, _bilinear = primitive("upsample_nearest2d"), primitive("upsample_bilinear2d")


def _input4(op, input):  # noqa: A002
    """(tensor, 4-D data, unbatched?) for a (N, C, H, W) or (C, H, W) float input."""
    x = input if type(input) is Tensor else as_tensor(input)
    _check_float(op, x)
    xd = x._data
    if xd.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{xd.shape}")
    return x, (xd[None] if xd.ndim == 3 else xd), xd.ndim == 3


def _pool_out(size, k, s, p, d, ceil_mode):
    """torch's pooling output size."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_geometry(op, xd, kernel_size, stride, padding, dilation, ceil_mode):
    k = _tuple(op, "kernel_size", kernel_size, 2, 1)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _tuple(op, "stride", stride, 2, 1)
    p = _tuple(op, "padding", padding, 2, 0)
    d = _tuple(op, "dilation", dilation, 2, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be at most half of kernel_size {k}")
    out = tuple(_pool_out(xd.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(2))
    if min(out) < 1:
        raise ValueError(f"{op}: input {xd.shape} is too small for kernel_size {k}, stride {s}, "
                         f"padding {p}, dilation {d}: output size {out}")
    return k, s, p, d, out


def _out(y, unbatched):
    return y[0] if unbatched else y


# ---- max_pool2d ----------------------------------------------------------------------------
@public(function=False, functional=True)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """Max over each (dilated) window; -inf padding; ties pick the first maximum, NaN wins.
    Shapes: (N, C, H, W) -> (N, C, Ho, Wo) [, int64 indices h*W + w into each input plane].
    Grad: dx[idx] += g."""
    op = "max_pool2d"
    x, xd, unb = _input4(op, input)
    k, s, p, d, out = _pool_geometry(op, xd, kernel_size, stride, padding, dilation, ceil_mode)
    yshape = xd.shape[:2] + out
    y, idx = D.run(K.max_pool2d, xd, yshape, yshape, k, s, p, d, int(bool(ceil_mode)))
    t = make(_out(y, unb), _max_pool, (x,), (idx, xd.shape, x._data.shape))
    return (t, _wrap(_out(idx, unb))) if return_indices else t


@_max_pool.defvjp
def _(g, needs, idx, x4shape, xshape):
    return (D.run(K.max_pool2d_backward, g.reshape(idx.shape), idx, x4shape).reshape(xshape),)


# ---- avg_pool2d ----------------------------------------------------------------------------
@public(function=False, functional=True)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """Mean over each window: sum / divisor, divisor = divisor_override, else the window size
    including (count_include_pad) or excluding zero padding. Shapes: (N, C, H, W) -> (N, C, Ho, Wo).
    Grad: each window's input positions get g / divisor."""
    op = "avg_pool2d"
    x, xd, unb = _input4(op, input)
    k, s, p, _, out = _pool_geometry(op, xd, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    attrs = k + s + p + (int(bool(ceil_mode)), int(bool(count_include_pad)),
                         int(divisor_override or 0))
    y = D.run(K.avg_pool2d, xd, xd.shape[:2] + out, attrs)
    return make(_out(y, unb), _avg_pool, (x,), (attrs, xd.shape, x._data.shape))


@_avg_pool.defvjp
def _(g, needs, attrs, x4shape, xshape):
    g4 = g.reshape(x4shape[:2] + g.shape[-2:])
    return (D.run(K.avg_pool2d_backward, g4, x4shape, attrs).reshape(xshape),)


# ---- adaptive_avg_pool2d -------------------------------------------------------------------
@public(function=False, functional=True)
def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Mean over torch's adaptive bins: rows [floor(i*H/Ho), ceil((i+1)*H/Ho)), columns likewise.
    output_size: int or (Ho, Wo), None keeps that input size. Shapes: (N, C, H, W) -> (N, C, Ho, Wo).
    Grad: each bin's positions get g / bin area."""
    op = "adaptive_avg_pool2d"
    x, xd, unb = _input4(op, input)
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size, output_size)
    if len(output_size) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(xd.shape[2 + i] if v is None else v for i, v in enumerate(output_size))
    out = _tuple(op, "output_size", out, 2, 1)
    if 0 in xd.shape[1:]:
        raise ValueError(f"{op}: input {x.shape} must have non-zero size in its non-batch dims")
    y = D.run(K.adaptive_avg_pool2d, xd, xd.shape[:2] + out)
    return make(_out(y, unb), _adaptive_avg, (x,), (xd.shape, x._data.shape))


@_adaptive_avg.defvjp
def _(g, needs, x4shape, xshape):
    g4 = g.reshape(x4shape[:2] + g.shape[-2:])
    return (D.run(K.adaptive_avg_pool2d_backward, g4, x4shape).reshape(xshape),)


# ---- interpolate ---------------------------------------------------------------------------
_MODES = ("nearest", "linear", "bilinear")


@public(function=False, functional=True)
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, W) ('nearest', 'linear') or (N, C, H, W) ('nearest',
    'bilinear') input to ``size`` or floor(in * scale_factor), with torch's source-index
    formulas (align_corners for the linear modes). Grad: g scattered back through the same
    indices and weights."""
    op = "interpolate"
    x = input if type(input) is Tensor else as_tensor(input)
    _check_float(op, x)
    xd = x._data
    if mode not in _MODES:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported (choose from "
                                  f"{', '.join(_MODES)})")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    nd = xd.ndim - 2
    if nd not in (1, 2) or (mode == "linear" and nd != 1) or (mode == "bilinear" and nd != 2):
        want = {"linear": "3-D", "bilinear": "4-D"}.get(mode, "3-D or 4-D")
        raise ValueError(f"{op}: mode {mode!r} needs {want} input (N, C, ...), got shape {xd.shape}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         "modes: linear | bilinear")
    out, scales = _interp_size(op, xd.shape[2:], size, scale_factor, recompute_scale_factor)
    x4 = xd.reshape(xd.shape[:2] + (1,) * (2 - nd) + xd.shape[2:])
    sc = (0.0,) * (2 - nd) + scales
    y4shape = xd.shape[:2] + (1,) * (2 - nd) + out
    if mode == "nearest":
        y = D.run(K.upsample_nearest2d, x4, y4shape, sc)
        prim, attrs = _nearest, sc
    else:
        attrs = (int(bool(align_corners)),) + sc
        y = D.run(K.upsample_bilinear2d, x4, y4shape, attrs)
        prim = _bilinear
    return make(y.reshape(xd.shape[:2] + out), prim, (x,), (attrs, x4.shape, xd.shape, y4shape))


def _interp_size(op, insize, size, scale_factor, recompute):
    nd = len(insize)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size or scale_factor must be given")
    if size is not None:
        out = _tuple(op, "size", size, nd, 1)
        return out, (0.0,) * nd
    sf = (scale_factor,) * nd if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(sf) != nd or not all(isinstance(v, (int, float)) and v > 0 and math.isfinite(v)
                                for v in sf):
        raise ValueError(f"{op}: scale_factor must be a positive number or a tuple of {nd}, got "
                         f"{scale_factor!r}")
    out = tuple(int(math.floor(float(insize[i]) * sf[i])) for i in range(nd))
    if min(out) < 1:
        raise ValueError(f"{op}: input size {tuple(insize)} scaled by {sf} is empty")
    return out, ((0.0,) * nd if recompute else tuple(float(v) for v in sf))


@_nearest.defvjp
def _(g, needs, attrs, x4shape, xshape, y4shape):
    return (D.run(K.upsample_nearest2d_backward, g.reshape(y4shape), x4shape, attrs).reshape(xshape),)


@_bilinear.defvjp
def _(g, needs, attrs, x4shape, xshape, y4shape):
    return (D.run(K.upsample_bilinear2d_backward, g.reshape(y4shape), x4shape,
                attrs).reshape(xshape),)
