"""Pooling and upsampling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, interpolate and their
layers. numpy loop references (float32 and float64), float64 gradcheck, ties and NaN, errors,
layer reprs; an optional torch comparison is skipped when torch is not installed."""
import math

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    o = num // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


# ---- numpy references ----------------------------------------------------------------------
def np_max_pool(x, k, s=None, p=0, d=1, ceil=False):
    k, p, d = _pair(k), _pair(p), _pair(d)
    s = k if s is None else _pair(s)
    n, c, h, w = x.shape
    ho, wo = _out(h, k[0], s[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], d[1], ceil)
    y, idx = np.empty((n, c, ho, wo), x.dtype), np.empty((n, c, ho, wo), np.int64)
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, bi = -np.inf, -1
                    for u in range(k[0]):
                        for v in range(k[1]):
                            hh, ww = i * s[0] - p[0] + u * d[0], j * s[1] - p[1] + v * d[1]
                            if 0 <= hh < h and 0 <= ww < w:
                                val = x[a, b, hh, ww]
                                if bi < 0 or val > best or np.isnan(val):  # first max; NaN wins
                                    best, bi = val, hh * w + ww
                    y[a, b, i, j], idx[a, b, i, j] = best, bi
    return y, idx


def np_avg_pool(x, k, s=None, p=0, ceil=False, include_pad=True, divisor=None):
    k, p = _pair(k), _pair(p)
    s = k if s is None else _pair(s)
    n, c, h, w = x.shape
    ho, wo = _out(h, k[0], s[0], p[0], 1, ceil), _out(w, k[1], s[1], p[1], 1, ceil)
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            padded = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            div = divisor or (padded if include_pad else (h1 - h0) * (w1 - w0))
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return y


def np_adaptive_avg(x, out):
    n, c, h, w = x.shape
    y = np.zeros((n, c) + out)
    for i in range(out[0]):
        h0, h1 = i * h // out[0], -(-(i + 1) * h // out[0])
        for j in range(out[1]):
            w0, w1 = j * w // out[1], -(-(j + 1) * w // out[1])
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def _src_nearest(n_in, n_out, scale):
    r = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) // 2
    return np.minimum(np.floor(np.arange(n_out, dtype=np.float32) * r).astype(np.int64), n_in - 1)


def _src_linear(n_in, n_out, align, scale):
    if n_out == n_in:
        i = np.arange(n_out)
        return i, i, np.ones(n_out), np.zeros(n_out)
    if align:
        r = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        x = r * np.arange(n_out)
    else:
        r = 1.0 / scale if scale else n_in / n_out
        x = np.maximum(r * (np.arange(n_out) + 0.5) - 0.5, 0)
    i0 = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    l1 = np.clip(x - i0, 0, 1)
    return i0, i0 + (i0 < n_in - 1), 1 - l1, l1


def np_interpolate(x, out, mode, align=False, scales=(None, None)):
    if mode == "nearest":
        hi = _src_nearest(x.shape[2], out[0], scales[0])
        wi = _src_nearest(x.shape[3], out[1], scales[1])
        return x[:, :, hi][:, :, :, wi]
    h0, h1, a0, a1 = _src_linear(x.shape[2], out[0], align, scales[0])
    w0, w1, b0, b1 = _src_linear(x.shape[3], out[1], align, scales[1])
    r0, r1 = x[:, :, h0].astype(np.float64), x[:, :, h1].astype(np.float64)
    top = r0[..., w0] * b0 + r0[..., w1] * b1
    bot = r1[..., w0] * b0 + r1[..., w1] * b1
    return top * a0[:, None] + bot * a1[:, None]


def _distinct(rng, shape):
    """Values at least 1e-3 apart (finite differences never swap a max)."""
    v = rng.permutation(int(np.prod(shape))).astype(np.float64) * 1e-2
    return v.reshape(shape) + rng.uniform(-1e-3, 1e-3, shape)


# ---- max_pool2d ----------------------------------------------------------------------------
MAXPOOL = [((2, 3, 8, 8), dict(kernel_size=2)),                      # the 2x2 fast path
           ((1, 2, 7, 9), dict(kernel_size=2, stride=2)),             # odd sizes: last row dropped
           ((2, 2, 9, 40), dict(kernel_size=2)),                      # 20 outputs per row: >16 lanes
           ((1, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1)),
           ((2, 1, 9, 8), dict(kernel_size=(3, 2), stride=(2, 1), dilation=(2, 1))),
           ((1, 2, 7, 6), dict(kernel_size=3, stride=2, ceil_mode=True)),
           ((1, 1, 5, 5), dict(kernel_size=2, stride=1, padding=1, ceil_mode=True))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kw", MAXPOOL)
def test_max_pool2d_matches_numpy(shape, kw, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    y, idx = F.max_pool2d(gc.tensor(x), return_indices=True, **kw)
    ry, ri = np_max_pool(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                         kw.get("dilation", 1), kw.get("ceil_mode", False))
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(idx.numpy(), ri)
    assert idx.dtype == np.int64


@pytest.mark.parametrize("shape, kw", MAXPOOL)
def test_max_pool2d_gradcheck(shape, kw):
    x = gc.tensor(_distinct(np.random.default_rng(1), shape), requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, **kw), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_ties_pick_first_and_nan_wins(dtype):
    x = np.ones((1, 1, 4, 6), dtype)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 0, 4] = -np.inf
    xt = gc.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 2, 5], [12, 15, 16]])
    assert np.isnan(y.detach().numpy()[0, 0, 1, 1])
    y.sum().backward()
    g = np.zeros((4, 6))
    g.flat[[0, 2, 5, 12, 15, 16]] = 1
    np.testing.assert_array_equal(xt.grad.numpy()[0, 0], g)


def test_max_pool2d_overlapping_windows_accumulate():
    x = gc.tensor(np.array([[[[0.0, 5, 0], [0, 0, 0], [0, 0, 0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 2, 0], [1, 1, 0], [0, 0, 0]])


# ---- avg_pool2d ----------------------------------------------------------------------------
AVGPOOL = [((2, 3, 8, 8), dict(kernel_size=2)),
           ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
           ((1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
           ((2, 1, 6, 7), dict(kernel_size=(3, 2), stride=(2, 3), ceil_mode=True)),
           ((1, 1, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True,
                               count_include_pad=False)),
           ((1, 2, 5, 6), dict(kernel_size=3, padding=1, divisor_override=4))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kw", AVGPOOL)
def test_avg_pool2d_matches_numpy_and_gradcheck(shape, kw, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    y = F.avg_pool2d(gc.tensor(x.astype(dtype)), **kw)
    ref = np_avg_pool(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                      kw.get("ceil_mode", False), kw.get("count_include_pad", True),
                      kw.get("divisor_override"))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
    if dtype == np.float64:
        assert gradcheck(lambda x: F.avg_pool2d(x, **kw), [gc.tensor(x, requires_grad=True)])


# ---- adaptive_avg_pool2d -------------------------------------------------------------------
ADAPTIVE = [((2, 3, 7, 5), (3, 2)), ((1, 2, 8, 8), 1), ((1, 1, 3, 4), (5, 7)),
            ((2, 2, 6, 9), (None, 4)), ((1, 1, 10, 10), (10, 10))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, out", ADAPTIVE)
def test_adaptive_avg_pool2d_matches_numpy_and_gradcheck(shape, out, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    y = F.adaptive_avg_pool2d(gc.tensor(x.astype(dtype)), out)
    o = (out, out) if isinstance(out, int) else tuple(shape[2 + i] if v is None else v
                                                      for i, v in enumerate(out))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y.numpy(), np_adaptive_avg(x, o), rtol=tol, atol=tol)
    if dtype == np.float64:
        assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), [gc.tensor(x, requires_grad=True)])


def test_pools_take_unbatched_input():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 6))
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy(), np_max_pool(x[None], 2)[0][0])
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 1).numpy(), np_avg_pool(x[None], 3, 1)[0])
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 2).numpy(), np_adaptive_avg(x[None], (2, 2))[0])
    xt = gc.tensor(x, requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), [gc.tensor(_distinct(rng, (3, 6, 6)), requires_grad=True)])
    F.avg_pool2d(xt, 2).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.full((3, 6, 6), 0.25))


# ---- interpolate ---------------------------------------------------------------------------
INTERP = [((2, 2, 4, 5), dict(scale_factor=2), "nearest"),
          ((1, 2, 5, 4), dict(size=(7, 9)), "nearest"),
          ((1, 1, 6, 9), dict(scale_factor=(0.5, 1.7)), "nearest"),
          ((1, 1, 6, 9), dict(size=(6, 4)), "nearest"),
          ((2, 2, 4, 5), dict(scale_factor=2), "bilinear"),
          ((1, 2, 5, 4), dict(size=(7, 9), align_corners=True), "bilinear"),
          ((1, 1, 6, 9), dict(scale_factor=(0.5, 1.7)), "bilinear"),
          ((1, 1, 6, 9), dict(size=(1, 4), align_corners=True), "bilinear"),
          ((1, 2, 3, 3), dict(scale_factor=2.5, recompute_scale_factor=True), "bilinear")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kw, mode", INTERP)
def test_interpolate_matches_numpy_and_gradcheck(shape, kw, mode, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    y = F.interpolate(gc.tensor(x.astype(dtype)), mode=mode, **kw)
    if "size" in kw:
        out, scales = kw["size"], (None, None)
    else:
        sf = _pair(kw["scale_factor"]) if not isinstance(kw["scale_factor"], float) else \
            (kw["scale_factor"],) * 2
        out = tuple(int(math.floor(shape[2 + i] * sf[i])) for i in range(2))
        scales = (None, None) if kw.get("recompute_scale_factor") else sf
    ref = np_interpolate(x, out, mode, kw.get("align_corners", False), scales)
    assert y.shape == ref.shape
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
    if dtype == np.float64:
        assert gradcheck(lambda x: F.interpolate(x, mode=mode, **kw),
                         [gc.tensor(x, requires_grad=True)])


def test_interpolate_linear_1d_and_nearest_1d():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5))
    y = F.interpolate(gc.tensor(x), scale_factor=2, mode="linear", align_corners=False)
    ref = np_interpolate(x[:, :, None], (1, 10), "bilinear", False, (None, 2.0))[:, :, 0]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12)
    y = F.interpolate(gc.tensor(x), size=8)
    np.testing.assert_array_equal(y.numpy(), x[:, :, _src_nearest(5, 8, None)])
    assert gradcheck(lambda x: F.interpolate(x, size=7, mode="linear"), [gc.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("kw, err, match", [
    (dict(), ValueError, "exactly one of size or scale_factor"),
    (dict(size=4, scale_factor=2), ValueError, "exactly one of size or scale_factor"),
    (dict(size=4, mode="bicubic"), NotImplementedError, "bicubic"),
    (dict(size=4, align_corners=True), ValueError, "align_corners"),
    (dict(size=4, mode="linear"), ValueError, "needs 3-D input"),
    (dict(scale_factor=-1.0), ValueError, "scale_factor must be a positive number"),
])
def test_interpolate_errors(kw, err, match):
    with pytest.raises(err, match=match):
        F.interpolate(gc.zeros(1, 1, 3, 3), **kw)


@pytest.mark.parametrize("fn, match", [
    (lambda x: F.max_pool2d(x, 2, padding=2), "at most half of kernel_size"),
    (lambda x: F.max_pool2d(x, 5), "too small"),
    (lambda x: F.avg_pool2d(x, 0), "kernel_size must be >= 1"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: F.max_pool2d(x[0, 0], 2), "3-D .C, H, W. or 4-D"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), "output_size"),
])
def test_pool_errors(fn, match):
    with pytest.raises(ValueError, match=match):
        fn(gc.zeros(1, 1, 4, 4))


# ---- layers --------------------------------------------------------------------------------
def test_pool_layers_repr_shapes_and_no_state():
    layers = [nn.MaxPool2d(2), nn.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True),
              nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d((1, None)),
              nn.Upsample(scale_factor=2), nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True)]
    assert [repr(m) for m in layers] == [
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
        "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)",
        "AvgPool2d(kernel_size=3, stride=2, padding=1)",
        "AdaptiveAvgPool2d(output_size=(1, None))",
        "Upsample(scale_factor=2.0, mode='nearest')",
        "Upsample(size=(5, 7), mode='bilinear')"]
    x = gc.randn(2, 3, 6, 6)
    assert [tuple(m(x).shape) for m in layers] == [(2, 3, 3, 3), (2, 3, 6, 7), (2, 3, 3, 3),
                                                   (2, 3, 1, 6), (2, 3, 12, 12), (2, 3, 5, 7)]
    assert all(not m.state_dict() for m in layers)
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert idx.shape == y.shape and idx.dtype == np.int64


# ---- optional: torch -----------------------------------------------------------------------
def test_pool_and_interpolate_match_torch():
    torch = pytest.importorskip("torch", reason="torch is optional: parity check only")
    TF = torch.nn.functional
    rng = np.random.default_rng(7)
    cases = [(F.max_pool2d, TF.max_pool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
             (F.max_pool2d, TF.max_pool2d, dict(kernel_size=2)),
             (F.max_pool2d, TF.max_pool2d, dict(kernel_size=(2, 3), dilation=2)),
             (F.avg_pool2d, TF.avg_pool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                count_include_pad=False)),
             (F.avg_pool2d, TF.avg_pool2d, dict(kernel_size=2, divisor_override=3)),
             (F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, dict(output_size=(4, 3))),
             (F.interpolate, TF.interpolate, dict(scale_factor=1.7)),
             (F.interpolate, TF.interpolate, dict(size=(5, 13), mode="nearest")),
             (F.interpolate, TF.interpolate, dict(scale_factor=(0.6, 2.3), mode="bilinear")),
             (F.interpolate, TF.interpolate, dict(size=(11, 4), mode="bilinear", align_corners=True))]
    for ours, theirs, kw in cases:
        for dt in (np.float32, np.float64):
            x = rng.standard_normal((2, 3, 9, 10)).astype(dt)
            xg, xt = gc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            yg, yt = ours(xg, **kw), theirs(xt, **kw)
            g = rng.standard_normal(tuple(yt.shape)).astype(dt)
            yg.backward(gc.tensor(g))
            yt.backward(torch.tensor(g))
            tol = 1e-5 if dt == np.float32 else 1e-12
            np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)
