"""Convolutions (NCHW) over the im2col + GEMM kernels of csrc/kernels/conv.cpp.

    conv2d:            y = conv(x, W) + b        x (N, C, H, W), W (O, C/groups, kh, kw)
        dx = conv2d_backward_input(g, W)   dW = conv2d_backward_weight(g, x)   db = sum of g over N, H, W
    conv_transpose2d:  y = conv2d_backward_input(x, W) + b  (the adjoint of conv2d in x),
                       W (C_in, C_out/groups, kh, kw)
        dx = conv2d(g, W)                  dW = conv2d_backward_weight(x, g)   db = sum of g over N, H, W
    conv1d:            conv2d with H = 1 (the arrays are reshaped, no copy, no extra graph node).

The kernels take (stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dilation_h,
dilation_w, groups); padding='same' with an even dilated kernel pads one more at the bottom/right,
as torch. Shapes are checked here, when the graph is built, with errors naming the argument.
"""
import numpy as np

from .. import dtypes as _dt
from ..engine import make
from .public import public
from .. import dispatch as D
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, as_tensor

_conv, _conv_t = primitive("conv2d"), primitive("conv_transpose2d")


def _tuple(op, name, v, n, minimum):
    """An int or a sequence of n ints, each >= minimum, as a tuple of n Python ints."""
    vals = (v,) * n if isinstance(v, (int, np.integer)) else v
    try:
        vals = tuple(vals)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}") from None
    if len(vals) != n or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                 for a in vals):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    if any(a < minimum for a in vals):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v!r}")
    return tuple(int(a) for a in vals)


def _float_pair(op, x, w):
    x = x if type(x) is Tensor else as_tensor(x)
    w = w if type(w) is Tensor else as_tensor(w)
    if x._data.dtype not in _dt.FLOATS or x._data.dtype != w._data.dtype:
        raise TypeError(f"{op}: input ({x._data.dtype}) and weight ({w._data.dtype}) must have the "
                        "same float dtype")
    return x, w


def _batched(op, x, nd):
    """(x's data with a batch dim, whether the input was unbatched)."""
    xd = x._data
    if xd.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got shape {xd.shape}")
    return (xd[None] if xd.ndim == nd + 1 else xd), xd.ndim == nd + 1


def _bias(op, bias, n, dtype):
    if bias is None:
        return None
    b = bias if type(bias) is Tensor else as_tensor(bias)
    if b._data.shape != (n,):
        raise ValueError(f"{op}: bias must have shape ({n},), got {b._data.shape}")
    if b._data.dtype != dtype:
        raise TypeError(f"{op}: bias dtype {b._data.dtype} differs from input dtype {dtype}")
    return b


def _to2d(nd, v, fill):
    """A 1-D convolution's per-axis values as the 2-D kernel's (H axis = 1)."""
    return v if nd == 2 else (fill,) + v


# ---- conv1d / conv2d -----------------------------------------------------------------------
def _conv_nd(op, nd, input, weight, bias, stride, padding, dilation, groups):  # noqa: A002
    x, w = _float_pair(op, input, weight)
    xd, unbatched = _batched(op, x, nd)
    wd = w._data
    if wd.ndim != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D (out_channels, in_channels/groups, "
                         f"{'kh, kw' if nd == 2 else 'k'}), got shape {wd.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    n, c = xd.shape[:2]
    o, cg = wd.shape[:2]
    if c % groups or o % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({c}, input "
                         f"{xd.shape}) and the output channels ({o}, weight {wd.shape})")
    if cg * groups != c:
        raise ValueError(f"{op}: input {x.shape} has {c} channels but weight {wd.shape} expects "
                         f"{cg * groups} (in_channels/groups={cg}, groups={groups})")
    k = wd.shape[2:]
    s = _tuple(op, "stride", stride, nd, 1)
    d = _tuple(op, "dilation", dilation, nd, 1)
    lo, hi = _conv_padding(op, padding, nd, k, s, d)
    sp = xd.shape[2:]
    out = tuple((sp[i] + lo[i] + hi[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd))
    if any(sp[i] + lo[i] + hi[i] < d[i] * (k[i] - 1) + 1 for i in range(nd)):
        raise ValueError(f"{op}: input {x.shape} with padding {padding!r} is smaller than the "
                         f"kernel {tuple(k)} dilated by {d}: "
                         f"{tuple(d[i] * (k[i] - 1) + 1 for i in range(nd))}")
    b = _bias(op, bias, o, xd.dtype)
    x4 = xd.reshape(n, c, 1, sp[0]) if nd == 1 else xd
    w4 = wd.reshape(o, cg, 1, k[0]) if nd == 1 else wd
    lo2, hi2 = _to2d(nd, lo, 0), _to2d(nd, hi, 0)
    attrs = _to2d(nd, s, 1) + (lo2[0], lo2[1], hi2[0], hi2[1]) + _to2d(nd, d, 1) + (int(groups),)
    y4shape = (n, o) + _to2d(nd, out, 1)
    if b is None:
        y = D.run(K.conv2d, x4, w4, y4shape, attrs)
        inputs = (x, w)
    else:
        y = D.run(K.conv2d_bias, x4, w4, b._data, y4shape, attrs)
        inputs = (x, w, b)
    yshape = ((o,) if unbatched else (n, o)) + out
    return make(y.reshape(yshape), _conv, inputs, (x4, w4, attrs, x._data.shape, wd.shape, y4shape))


def _conv_padding(op, padding, nd, k, s, d):
    """(pads before, pads after) per spatial dim; 'same' puts the odd one after, as torch."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * nd, (0,) * nd
        if padding != "same":
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of "
                             "{'valid', 'same'}")
        if any(v != 1 for v in s):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride={s})")
        total = tuple(d[i] * (k[i] - 1) for i in range(nd))
        lo = tuple(t // 2 for t in total)
        return lo, tuple(t - a for t, a in zip(total, lo))
    p = _tuple(op, "padding", padding, nd, 0)
    return p, p


@_conv.defvjp
def _(g, needs, x4, w4, attrs, xshape, wshape, y4shape):
    o = w4.shape[0]
    g4 = g.reshape(y4shape)
    dx = D.run(K.conv2d_backward_input, g4, w4, x4.shape, attrs).reshape(xshape) if needs[0] else None
    dw = db = None
    if len(needs) == 3 and needs[2] and needs[1]:
        dw, db = D.run(K.conv2d_backward_weight_bias, g4, x4, w4.shape, (o,), attrs)
    elif needs[1]:
        dw = D.run(K.conv2d_backward_weight, g4, x4, w4.shape, attrs)
    elif len(needs) == 3 and needs[2]:
        db = D.run(K.sum_to, g4, (1, o, 1, 1)).reshape(o)
    dw = dw.reshape(wshape) if dw is not None else None
    return (dx, dw) if len(needs) == 2 else (dx, dw, db)


@public(function=False, functional=True)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D convolution (cross-correlation, as torch). Shapes: input (N, C, H, W) or (C, H, W),
    weight (O, C/groups, kh, kw), bias (O,) -> (N, O, Ho, Wo),
    Ho = (H + 2*pad - dilation*(kh-1) - 1) // stride + 1. padding: int, pair, 'valid' or 'same'.
    Grad: dinput = conv2d_backward_input(g, W), dweight = sum_n g[n] @ im2col(x[n])^T,
    dbias = g summed over N, Ho, Wo."""
    return _conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@public(function=False, functional=True)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D convolution. Shapes: input (N, C, L) or (C, L), weight (O, C/groups, k), bias (O,)
    -> (N, O, Lo). Computed as conv2d with H = 1."""
    return _conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


# ---- conv_transpose2d ----------------------------------------------------------------------
@public(function=False, functional=True)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,  # noqa: A002
                     groups=1, dilation=1):
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input).
    Shapes: input (N, C_in, H, W) or unbatched, weight (C_in, C_out/groups, kh, kw), bias (C_out,)
    -> (N, C_out, Ho, Wo), Ho = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1.
    Grad: dinput = conv2d(g, W), dweight = conv2d_backward_weight(x, g), dbias = sum of g."""
    op = "conv_transpose2d"
    x, w = _float_pair(op, input, weight)
    xd, unbatched = _batched(op, x, 2)
    wd = w._data
    if wd.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (in_channels, out_channels/groups, kh, kw), "
                         f"got shape {wd.shape}")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    n, c = xd.shape[:2]
    if wd.shape[0] != c:
        raise ValueError(f"{op}: input {x.shape} has {c} channels but weight {wd.shape} expects "
                         f"{wd.shape[0]} (weight is (in_channels, out_channels/groups, kh, kw))")
    if c % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {c} input channels of {x.shape}")
    o, k = wd.shape[1] * groups, wd.shape[2:]
    s = _tuple(op, "stride", stride, 2, 1)
    p = _tuple(op, "padding", padding, 2, 0)
    op_ = _tuple(op, "output_padding", output_padding, 2, 0)
    d = _tuple(op, "dilation", dilation, 2, 1)
    if any(op_[i] >= s[i] and op_[i] >= d[i] for i in range(2)):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than either stride {s} or "
                         f"dilation {d}")
    out = tuple((xd.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op_[i] + 1
                for i in range(2))
    if min(out) < 1:
        raise ValueError(f"{op}: input {x.shape} with weight {wd.shape}, stride {s}, padding {p}, "
                         f"dilation {d} gives an empty output {out}")
    b = _bias(op, bias, o, xd.dtype)
    attrs = s + (p[0], p[1], p[0], p[1]) + d + (int(groups),)
    yshape = (n, o) + out
    if b is None:
        y = D.run(K.conv2d_backward_input, xd, wd, yshape, attrs)
        inputs = (x, w)
    else:
        y = D.run(K.conv_transpose2d_bias, xd, wd, b._data, yshape, attrs)
        inputs = (x, w, b)
    return make(y[0] if unbatched else y, _conv_t, inputs, (xd, wd, attrs, x._data.shape, yshape))


@_conv_t.defvjp
def _(g, needs, xd, wd, attrs, xshape, yshape):
    g4 = g.reshape(yshape)
    dx = dw = db = None
    if needs[0]:
        s, p, d = attrs[:2], attrs[2:4], attrs[6:8]
        # conv2d of the output-sized gradient is at least x's size (larger when output_padding
        # >= stride): crop to x.
        full = tuple((yshape[2 + i] + 2 * p[i] - d[i] * (wd.shape[2 + i] - 1) - 1) // s[i] + 1
                     for i in range(2))
        dx = D.run(K.conv2d, g4, wd, (yshape[0], xd.shape[1]) + full, attrs)
        if full != xd.shape[2:]:
            dx = np.ascontiguousarray(dx[:, :, :xd.shape[2], :xd.shape[3]])
        dx = dx.reshape(xshape)
    if needs[1]:
        dw = D.run(K.conv2d_backward_weight, xd, g4, wd.shape, attrs)
    if len(needs) == 3 and needs[2]:
        db = D.run(K.sum_to, g4, (1, yshape[1], 1, 1)).reshape(yshape[1])
    return (dx, dw) if len(needs) == 2 else (dx, dw, db)
