"""layer_norm and group_norm (kernels/norm_layer.cpp) and their modules: forward against numpy
transcriptions of torch's definitions (float32 and float64), every gradient by float64
gradcheck, long rows, errors. Batch norm and the shared helpers: test_norm.py."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck
from test_norm import DTYPES, TOL, _bshape, _data, _t


def ln_ref(x, ns, w, b, eps=1e-5):
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    x64 = x.astype(np.float64)
    y = (x64 - x64.mean(axes, keepdims=True)) / np.sqrt(x64.var(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def gn_ref(x, G, w, b, eps=1e-5):
    xg = x.astype(np.float64).reshape(x.shape[0], G, -1)
    y = (xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + eps)
    y = y.reshape(x.shape)
    w = 1 if w is None else w.reshape(_bshape(x))
    return y * w + (0 if b is None else b.reshape(_bshape(x)))



# ---- layer_norm ----------------------------------------------------------------------------
LN_CASES = [((5,), (5,)), ((1, 5), (5,)), ((4, 7), (7,)), ((2, 3, 4), (3, 4)), ((3, 2, 5), (5,)),
            ((2, 2100), (2100,)), ((33, 3), (3,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns", LN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_forward(dtype, shape, ns, affine):
    x = _data(shape, dtype, loc=3.0)
    w = _data(ns, dtype, 1) if affine != "none" else None
    b = _data(ns, dtype, 2) if affine == "both" else None
    y = F.layer_norm(_t(x), ns, None if w is None else _t(w), None if b is None else _t(b),
                     eps=1e-4)
    np.testing.assert_allclose(y.numpy(), ln_ref(x, ns, w, b, eps=1e-4), **TOL[dtype])


@pytest.mark.parametrize("shape,ns", [((5,), (5,)), ((1, 5), (5,)), ((3, 4), (4,)),
                                      ((2, 3, 2), (3, 2)), ((1, 1, 3), (3,)), ((2, 1), (1,))])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layer_norm_gradcheck(shape, ns, affine):
    x = _t(_data(shape, np.float64), True)
    hw, hb = affine in ("both", "weight"), affine in ("both", "bias")
    ps = ([_t(_data(ns, np.float64, 1), True)] if hw else []) + \
         ([_t(_data(ns, np.float64, 2), True)] if hb else [])

    def fn(x, *p):
        it = iter(p)
        return F.layer_norm(x, ns, next(it) if hw else None, next(it) if hb else None)
    gradcheck(fn, [x] + ps, name=f"layer_norm{shape}")


@pytest.mark.parametrize("shape,ns", [((3, 40), (40,)), ((2, 5, 3000), (5, 3000)),
                                      ((70, 20), (20,))])
def test_layer_norm_gradcheck_long_rows(shape, ns):
    ps = [_t(_data(ns, np.float64, 1), True), _t(_data(ns, np.float64, 2), True)]
    gradcheck(lambda x, w, b: F.layer_norm(x, ns, w, b), [_t(_data(shape, np.float64), True)] + ps,
              name=f"layer_norm{shape}")


def test_layer_norm_large_rows_and_weight_gradients_match_numpy():
    x = _data((300, 70), np.float64)
    g = _data(x.shape, np.float64, 3)
    w = _t(_data(70, np.float64, 1), True)
    b = _t(_data(70, np.float64, 2), True)
    xt = _t(x, True)
    (F.layer_norm(xt, 70, w, b) * _t(g)).sum().backward()
    xhat = ln_ref(x, (70,), None, None)
    np.testing.assert_allclose(w.grad.numpy(), (g * xhat).sum(0), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), g.sum(0), rtol=1e-10)
    gw = g * w.detach().numpy()
    rstd = 1 / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    dx = rstd * (gw - gw.mean(1, keepdims=True) - xhat * (gw * xhat).mean(1, keepdims=True))
    np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-9, atol=1e-12)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"normalized_shape=\[3\], expected input with shape "
                                         r"\[\*, 3\], but got input of size \(4, 4\)"):
        F.layer_norm(gc.zeros(4, 4), (3,))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) and normalized_shape = \(4,\)"):
        F.layer_norm(gc.zeros(4, 4), (4,), weight=gc.ones(3))
    with pytest.raises(ValueError, match="at least 1-dimensional"):
        F.layer_norm(gc.zeros(4, 4), ())


def test_layer_norm_module_same_in_train_and_eval():
    ln = nn.LayerNorm((3, 4))
    x = _t(_data((2, 3, 4), np.float32))
    np.testing.assert_array_equal(ln(x).detach().numpy(), ln.eval()(x).detach().numpy())


# ---- group_norm ----------------------------------------------------------------------------
GN_CASES = [((1, 4, 3), 2), ((3, 6), 3), ((2, 6, 5), 1), ((2, 4, 3, 2), 4), ((2, 3, 7), 3),
            ((2, 8, 300), 2), ((1, 1, 5), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,G", GN_CASES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_group_norm_forward(dtype, shape, G, affine):
    c = shape[1]
    x = _data(shape, dtype, loc=-2.0)
    w = _data(c, dtype, 1) if affine != "none" else None
    b = _data(c, dtype, 2) if affine == "both" else None
    y = F.group_norm(_t(x), G, None if w is None else _t(w), None if b is None else _t(b),
                     eps=1e-3)
    np.testing.assert_allclose(y.numpy(), gn_ref(x, G, w, b, eps=1e-3), **TOL[dtype])


@pytest.mark.parametrize("shape,G", [((1, 4, 3), 2), ((3, 6), 3), ((2, 6, 2), 1),
                                     ((2, 4, 3, 2), 4), ((1, 3, 5), 3), ((2, 4), 2)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_group_norm_gradcheck(shape, G, affine):
    c = shape[1]
    x = _t(_data(shape, np.float64), True)
    hw, hb = affine in ("both", "weight"), affine in ("both", "bias")
    ps = ([_t(_data(c, np.float64, 1), True)] if hw else []) + \
         ([_t(_data(c, np.float64, 2), True)] if hb else [])

    def fn(x, *p):
        it = iter(p)
        return F.group_norm(x, G, next(it) if hw else None, next(it) if hb else None)
    gradcheck(fn, [x] + ps, name=f"group_norm{shape}")


@pytest.mark.parametrize("shape,G", [((2, 4, 40), 2), ((3, 6, 5, 5), 3), ((1, 32), 4)])
def test_group_norm_gradcheck_long_runs(shape, G):
    c = shape[1]
    ps = [_t(_data(c, np.float64, 1), True), _t(_data(c, np.float64, 2), True)]
    gradcheck(lambda x, w, b: F.group_norm(x, G, w, b), [_t(_data(shape, np.float64), True)] + ps,
              name=f"group_norm{shape}")


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"divisible by num_groups, but got input of shape "
                                         r"\(4, 6\) and num_groups=4"):
        F.group_norm(gc.zeros(4, 6), 4)
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) and input of shape \(4, 6\)"):
        F.group_norm(gc.zeros(4, 6), 3, weight=gc.ones(3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.group_norm(gc.zeros(6), 3)
