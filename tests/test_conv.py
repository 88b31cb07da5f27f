"""Convolutions: conv1d, conv2d, conv_transpose2d and their layers.

Forward against straightforward numpy references (float32 and float64); float64 gradcheck of
every op over stride, padding, dilation, groups, odd sizes, batch 1 and non-square kernels.
float32 runs other kernels than float64 on AVX-512 builds (direct and implicit-GEMM paths), so
float32 gradients are compared with the float64 ones (which gradcheck verifies), at 1 and 2
threads. Layers: state-dict keys and shapes as torch, init bounds, repr, errors. An optional
torch comparison is skipped when torch is not installed.
"""
import math

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- numpy references ----------------------------------------------------------------------
def np_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation; padding: int, pair, 'valid', 'same' (odd extra on the bottom/right)."""
    s, d = _pair(stride), _pair(dilation)
    k = w.shape[2:]
    if padding == "valid":
        lo = hi = (0, 0)
    elif padding == "same":
        tot = [d[i] * (k[i] - 1) for i in range(2)]
        lo = tuple(t // 2 for t in tot)
        hi = tuple(t - t // 2 for t in tot)
    else:
        lo = hi = _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (lo[0], hi[0]), (lo[1], hi[1])))
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    ho = (xp.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (xp.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo), dtype=np.float64)
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg].astype(np.float64)
        for p in range(k[0]):
            for q in range(k[1]):
                patch = xs[:, :, p * d[0]:p * d[0] + s[0] * (ho - 1) + 1:s[0],
                           q * d[1]:q * d[1] + s[1] * (wo - 1) + 1:s[1]]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                       w[g * og:(g + 1) * og, :, p, q])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def np_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                        dilation=1):
    """Scatter form: every input pixel adds w[c] at (i*s - pad + p*d, j*s - pad + q*d)."""
    s, p_, op, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    n, c, h, wd = x.shape
    cg, og, kh, kw = w.shape[0] // groups, w.shape[1], w.shape[2], w.shape[3]
    full = ((h - 1) * s[0] + d[0] * (kh - 1) + 1 + op[0], (wd - 1) * s[1] + d[1] * (kw - 1) + 1 + op[1])
    y = np.zeros((n, og * groups) + full)
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg].astype(np.float64)
        for p in range(kh):
            for q in range(kw):
                y[:, g * og:(g + 1) * og, p * d[0]:p * d[0] + s[0] * (h - 1) + 1:s[0],
                  q * d[1]:q * d[1] + s[1] * (wd - 1) + 1:s[1]] += np.einsum(
                      "nchw,co->nohw", xs, w[g * cg:(g + 1) * cg, :, p, q])
    ho = (h - 1) * s[0] - 2 * p_[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (wd - 1) * s[1] - 2 * p_[1] + d[1] * (kw - 1) + op[1] + 1
    y = y[:, :, p_[0]:p_[0] + ho, p_[1]:p_[1] + wo]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


# ---- conv2d cases: (x shape, weight shape, kwargs) -------------------------------------------
CONV2D = [
    ((2, 3, 7, 8), (4, 3, 3, 2), dict(padding=1)),
    ((1, 4, 9, 9), (6, 2, 3, 3), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)),
    ((3, 2, 5, 5), (4, 2, 1, 1), dict()),                               # 1x1: no im2col
    ((2, 4, 6, 7), (4, 4, 1, 1), dict(stride=2)),
    ((1, 1, 11, 13), (5, 1, 5, 5), dict(padding=2)),                    # one input channel
    ((2, 6, 11, 13), (9, 2, 3, 4), dict(padding=(2, 1), dilation=(1, 2), groups=3)),
    ((2, 4, 10, 21), (8, 2, 3, 3), dict(stride=2, padding=1, groups=2)),
    ((1, 2, 5, 40), (3, 2, 2, 3), dict(padding="same", dilation=(2, 3))),  # even kernel: extra pad
    ((2, 3, 6, 6), (2, 3, 3, 3), dict(padding="valid")),
    ((1, 8, 9, 35), (16, 8, 5, 3), dict(padding=(2, 1))),               # rows over 32 columns
    ((2, 16, 14, 14), (32, 16, 5, 5), dict()),                          # LeNet's second layer
    ((3, 1, 28, 28), (16, 1, 5, 5), dict(padding=2)),                   # LeNet's first layer
    ((2, 3, 4, 4), (4, 3, 3, 3), dict(padding=(0, 2), stride=(1, 3))),
]


def _case_id(c):
    return f"x{c[0]}-w{c[1]}-{c[2]}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV2D, ids=_case_id)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_forward_matches_numpy(case, dtype, bias):
    xs, ws, kw = case
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    y = F.conv2d(gc.tensor(x), gc.tensor(w), None if b is None else gc.tensor(b), **kw)
    ref = np_conv2d(x.astype(np.float64), w.astype(np.float64), b, **kw)
    assert y.dtype == dtype and y.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())


GRADCHECK = [c for c in CONV2D if np.prod(c[0]) <= 600]


@pytest.mark.parametrize("case", GRADCHECK, ids=_case_id)
def test_conv2d_gradcheck(case):
    xs, ws, kw = case
    rng = np.random.default_rng(1)
    x = gc.tensor(rng.standard_normal(xs), requires_grad=True)
    w = gc.tensor(rng.standard_normal(ws), requires_grad=True)
    b = gc.tensor(rng.standard_normal(ws[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONV2D, ids=_case_id)
def test_conv2d_float32_gradients_match_float64(case, threads):
    """The float32 kernels (direct, implicit GEMM, sgemm) against float64 (im2col + Eigen)."""
    xs, ws, kw = case
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y0 = np_conv2d(x, w, b, **kw)
    g = rng.standard_normal(y0.shape)
    old = gc.get_num_threads()
    gc.set_num_threads(threads)
    try:
        grads = {}
        for dt in (np.float32, np.float64):
            ts = [gc.tensor(a.astype(dt), requires_grad=True) for a in (x, w, b)]
            F.conv2d(*ts, **kw).backward(gc.tensor(g.astype(dt)))
            grads[dt] = [t.grad.numpy().astype(np.float64) for t in ts]
    finally:
        gc.set_num_threads(old)
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=2e-5, atol=2e-5 * np.abs(g64).max())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("xs, ws", [((1, 16, 64, 64), (8, 16, 3, 3)), ((1, 16, 24, 24), (64, 16, 3, 3))])
def test_conv2d_big_single_image_tiles_and_threads(xs, ws, threads):
    """One big image: im2col runs in tiles of output rows (16x64x64, float64) or, with a single
    work item (16x24x24 -> 64), the GEMM and im2col split across the threads."""
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    old = gc.get_num_threads()
    gc.set_num_threads(threads)
    try:
        ref = np_conv2d(x, w, b, padding=1)
        ts = [gc.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.conv2d(*ts, padding=1)
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12, atol=1e-10)
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), ts)
        g = rng.standard_normal(ref.shape)
        y.backward(gc.tensor(g))
        t32 = [gc.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b)]
        F.conv2d(*t32, padding=1).backward(gc.tensor(g.astype(np.float32)))
        for a, b64 in zip(t32, ts):
            ref64 = b64.grad.numpy()
            np.testing.assert_allclose(a.grad.numpy(), ref64, rtol=2e-5, atol=2e-5 * np.abs(ref64).max())
    finally:
        gc.set_num_threads(old)


def test_conv2d_only_some_inputs_need_grad():
    rng = np.random.default_rng(3)
    x = gc.tensor(rng.standard_normal((2, 3, 6, 6)))
    w = gc.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = gc.tensor(rng.standard_normal(4), requires_grad=True)
    F.conv2d(x, w, b, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 72.0))
    w2 = gc.tensor(w.detach().numpy())
    F.conv2d(x, w2, b, padding=1).sum().backward()  # only the bias wants a gradient
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 144.0))


def test_conv2d_unbatched_and_non_contiguous_numpy():
    rng = np.random.default_rng(4)
    x = np.asfortranarray(rng.standard_normal((3, 7, 6)))
    w = rng.standard_normal((2, 3, 3, 3))[:, :, ::-1, :]  # negative strides
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (2, 7, 6)
    np.testing.assert_allclose(y.numpy(), np_conv2d(x[None], w, padding=1)[0], rtol=1e-12, atol=1e-12)


# ---- conv1d --------------------------------------------------------------------------------
CONV1D = [((2, 3, 11), (4, 3, 3), dict(padding=1)),
          ((1, 4, 10), (6, 2, 4), dict(stride=2, dilation=2, groups=2)),
          ((3, 2, 7), (2, 2, 2), dict(padding="same")),
          ((2, 2, 40), (4, 1, 5), dict(padding=3, groups=2))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV1D, ids=_case_id)
def test_conv1d_forward_and_gradcheck(case, dtype):
    xs, ws, kw = case
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = F.conv1d(gc.tensor(x.astype(dtype)), gc.tensor(w.astype(dtype)), gc.tensor(b.astype(dtype)), **kw)
    kw2 = dict(kw)  # the same conv with H = 1
    for k, fill in (("stride", 1), ("dilation", 1), ("padding", 0)):
        if k in kw and not isinstance(kw[k], str):
            kw2[k] = (fill, kw[k])
    ref = np_conv2d(x[:, :, None], w[:, :, None], b, **kw2)[:, :, 0]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())
    if dtype == np.float64:
        ts = [gc.tensor(a, requires_grad=True) for a in (x, w, b)]
        assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, **kw), ts)


# ---- conv_transpose2d ----------------------------------------------------------------------
CONVT = [((2, 3, 4, 5), (3, 2, 3, 3), dict()),
         ((1, 4, 3, 3), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1, groups=2)),
         ((2, 2, 5, 4), (2, 3, 2, 3), dict(stride=(2, 3), padding=(0, 1), dilation=(2, 1))),
         ((1, 2, 3, 4), (2, 2, 3, 3), dict(stride=1, dilation=2, output_padding=1)),  # op >= stride
         ((2, 8, 5, 5), (8, 4, 4, 4), dict(stride=2, padding=1)),
         # small planes: images are packed into one product per block of 28 (two blocks here)
         ((30, 4, 3, 3), (4, 2, 4, 4), dict(stride=2, padding=1, groups=2))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONVT, ids=_case_id)
def test_conv_transpose2d_forward_and_gradcheck(case, dtype):
    xs, ws, kw = case
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    groups = kw.get("groups", 1)
    b = rng.standard_normal(ws[1] * groups)
    y = F.conv_transpose2d(gc.tensor(x.astype(dtype)), gc.tensor(w.astype(dtype)),
                           gc.tensor(b.astype(dtype)), **kw)
    ref = np_conv_transpose2d(x, w, b, **kw)
    assert y.shape == ref.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())
    if dtype == np.float64:
        ts = [gc.tensor(a, requires_grad=True) for a in (x, w, b)]
        assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), ts)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)> for the same stride/padding/dilation."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 2))
    kw = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    y = F.conv2d(gc.tensor(x), gc.tensor(w), **kw).numpy()
    v = rng.standard_normal(y.shape)
    eff = [d * (k - 1) for d, k in zip((1, 2), w.shape[2:])]
    op = tuple(x.shape[2 + i] - ((y.shape[2 + i] - 1) * 2 - 2 + eff[i] + 1) for i in range(2))
    xt = F.conv_transpose2d(gc.tensor(v), gc.tensor(w), output_padding=op, **kw).numpy()
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(y * v), np.sum(x * xt), rtol=1e-12)


# ---- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kw, match", [
    (((1, 3, 5, 5), (4, 2, 3, 3)), {}, "has 3 channels but weight"),
    (((1, 4, 5, 5), (6, 2, 3, 3)), dict(groups=3), "groups=3 must divide"),
    (((1, 3, 2, 2), (4, 3, 3, 3)), {}, "smaller than the kernel"),
    (((1, 3, 5, 5), (4, 3, 3, 3)), dict(padding="full"), "invalid padding string"),
    (((1, 3, 5, 5), (4, 3, 3, 3)), dict(padding="same", stride=2), "strided"),
    (((1, 3, 5, 5), (4, 3, 3)), {}, "weight must be 4-D"),
    (((5, 5), (4, 3, 3, 3)), {}, "3-D .unbatched. or 4-D"),
    (((1, 3, 5, 5), (4, 3, 3, 3)), dict(stride=0), "stride must be >= 1"),
    (((1, 3, 5, 5), (4, 3, 3, 3)), dict(padding=-1), "padding must be >= 0"),
])
def test_conv2d_errors_name_op_argument_and_shapes(args, kw, match):
    x, w = (gc.zeros(*s) for s in args)
    with pytest.raises(ValueError, match=match):
        F.conv2d(x, w, **kw)


def test_conv_errors_bias_dtype_and_transpose():
    x, w = gc.zeros(1, 3, 5, 5), gc.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, w, gc.zeros(3))
    with pytest.raises(TypeError, match="same float dtype"):
        F.conv2d(x, gc.zeros(4, 3, 3, 3, dtype=gc.float64))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(gc.zeros(1, 4, 3, 3), gc.zeros(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="has 3 channels but weight"):
        F.conv_transpose2d(gc.zeros(1, 3, 3, 3), gc.zeros(4, 2, 3, 3))


# ---- layers --------------------------------------------------------------------------------
def test_conv_layers_state_dict_as_torch():
    m = nn.Sequential(nn.Conv1d(4, 8, 3), nn.Conv2d(6, 12, (3, 5), groups=3, bias=False),
                      nn.ConvTranspose2d(8, 6, 4, stride=2, groups=2))
    expect = [("0.weight", (8, 4, 3)), ("0.bias", (8,)), ("1.weight", (12, 2, 3, 5)),
              ("2.weight", (8, 3, 4, 4)), ("2.bias", (6,))]
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == expect


@pytest.mark.parametrize("layer, fan_in", [(lambda: nn.Conv2d(3, 8, 5), 75),
                                           (lambda: nn.Conv1d(4, 6, 3, groups=2), 6),
                                           (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), 27)])
def test_conv_layers_default_init_bounds(layer, fan_in):
    gc.manual_seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias rule coincide
    for p in (m.weight, m.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.5 * bound


def test_conv_layers_repr_and_forward_shapes():
    assert repr(nn.Conv2d(1, 16, 5, padding=2)) == \
        "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"
    assert repr(nn.Conv2d(4, 8, (3, 1), stride=2, dilation=2, groups=2, bias=False)) == \
        "Conv2d(4, 8, kernel_size=(3, 1), stride=(2, 2), dilation=(2, 2), groups=2, bias=False)"
    assert repr(nn.Conv1d(4, 8, 3, padding="same")) == \
        "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same)"
    assert repr(nn.ConvTranspose2d(8, 4, 2, stride=2, output_padding=1)) == \
        "ConvTranspose2d(8, 4, kernel_size=(2, 2), stride=(2, 2), output_padding=(1, 1))"
    assert nn.Conv2d(3, 5, 4, padding="same")(gc.randn(2, 3, 9, 8)).shape == (2, 5, 9, 8)
    assert nn.Conv1d(3, 5, 4, padding="same")(gc.randn(2, 3, 9)).shape == (2, 5, 9)
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    assert up(gc.randn(1, 4, 5, 5)).shape == (1, 2, 9, 9)
    assert up(gc.randn(1, 4, 5, 5), output_size=(10, 10)).shape == (1, 2, 10, 10)
    with pytest.raises(ValueError, match="valid sizes range from 9 to 10"):
        up(gc.randn(1, 4, 5, 5), output_size=(11, 11))


def test_conv_layer_constructor_errors():
    with pytest.raises(ValueError, match="in_channels .5. must be divisible by groups"):
        nn.Conv2d(5, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels .5. must be divisible by groups"):
        nn.Conv2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(4, 4, 3, padding_mode="mirror")
    with pytest.raises(NotImplementedError, match="reflect"):
        nn.Conv2d(4, 4, 3, padding_mode="reflect")


def test_lenet_trains():
    gc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 2))
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    opt = gc.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(gc.tensor(x)), gc.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---- optional: torch -----------------------------------------------------------------------
def test_conv_layers_match_torch():
    torch = pytest.importorskip("torch", reason="torch is optional: parity check only")
    rng = np.random.default_rng(9)
    specs = [(nn.Conv2d, torch.nn.Conv2d, (3, 6, (3, 2)), dict(stride=(2, 1), padding=1, groups=3),
              (2, 3, 9, 8)),
             (nn.Conv2d, torch.nn.Conv2d, (1, 16, 5), dict(padding=2), (4, 1, 28, 28)),
             (nn.Conv2d, torch.nn.Conv2d, (16, 32, 5), dict(), (4, 16, 14, 14)),
             (nn.Conv2d, torch.nn.Conv2d, (4, 4, 4), dict(padding="same", dilation=2), (2, 4, 7, 9)),
             (nn.Conv1d, torch.nn.Conv1d, (4, 6, 3), dict(stride=2, groups=2), (2, 4, 13)),
             (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3),
              dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1), (2, 4, 5, 6))]
    for ours, theirs, args, kw, xs in specs:
        for dt, tdt in ((np.float32, torch.float32), (np.float64, torch.float64)):
            t = theirs(*args, **kw).to(tdt)
            m = ours(*args, **kw, dtype=dt)
            m.load_state_dict({k: gc.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
            x = rng.standard_normal(xs).astype(dt)
            xg, xt = gc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            yg, yt = m(xg), t(xt)
            g = rng.standard_normal(tuple(yt.shape)).astype(dt)
            yg.backward(gc.tensor(g))
            yt.backward(torch.tensor(g))
            tol = 1e-4 if dt == np.float32 else 1e-10
            pairs = [(yg.detach().numpy(), yt.detach().numpy()), (xg.grad.numpy(), xt.grad.numpy()),
                     (m.weight.grad.numpy(), t.weight.grad.numpy()),
                     (m.bias.grad.numpy(), t.bias.grad.numpy())]
            for a, b in pairs:
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(np.abs(b).max(), 1))
