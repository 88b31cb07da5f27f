"""gc.diagnostics curvature: Hessian-vector products against closed-form Hessians (numpy),
Lanczos eigenvalues against numpy.linalg.eigvalsh of the assembled Hessian, a known saddle,
the model left untouched, and the error messages."""
import copy

import numpy as np
import pytest

import gradcore as gc
from gradcore import nn
from gradcore.diagnostics import Eigenvalues, hessian_eigenvalues, hessian_vector_product
from gradcore.nn import functional as F


def _data(n, d, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def _softmax_ce_hessian(w, b, x):
    """Exact Hessian of mean softmax cross-entropy of z = x W^T + b over (vec(W), b):
    (1/N) sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i with J_i = [I_C kron x_i^T, I_C]."""
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    c = w.shape[0]
    h = 0
    for xi, pi in zip(x, p):
        j = np.hstack([np.kron(np.eye(c), xi[None, :]), np.eye(c)])
        h = h + j.T @ (np.diag(pi) - np.outer(pi, pi)) @ j
    return h / len(x)


def _mlp(seed=1):
    gc.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def _assemble(model, loss_fn, batch):
    n = sum(p.numel() for p in model.parameters())
    return np.stack([hessian_vector_product(model, loss_fn, batch, e) for e in np.eye(n)], 1)


def test_hvp_logistic_regression_matches_closed_form():
    x, y = _data(50, 5, 4)
    model = nn.Linear(5, 4).double()
    w, b = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    h = _softmax_ce_hessian(w, b, x)
    rng = np.random.default_rng(3)
    for _ in range(3):
        v = rng.standard_normal(h.shape[0])
        assert _rel(hessian_vector_product(model, F.cross_entropy, (x, y), v), h @ v) < 1e-6
    # per-parameter list in, per-parameter list out
    parts = [v[:20].reshape(4, 5), v[20:]]
    out = hessian_vector_product(model, F.cross_entropy, (gc.tensor(x), gc.tensor(y)), parts)
    assert [o.shape for o in out] == [(4, 5), (4,)]
    assert _rel(np.concatenate([o.ravel() for o in out]), h @ v) < 1e-6


def test_hvp_float32_model_runs_in_float64():
    x, y = _data(30, 3, 3)
    model = nn.Linear(3, 3)                 # float32: the Hessian is taken on a float64 copy
    w = model.weight.detach().numpy().astype(np.float64)
    b = model.bias.detach().numpy().astype(np.float64)
    v = np.random.default_rng(0).standard_normal(12)
    hv = hessian_vector_product(model, F.cross_entropy, (x.astype(np.float32), y), v)
    assert hv.dtype == np.float64
    assert _rel(hv, _softmax_ce_hessian(w, b, x) @ v) < 1e-6
    assert model.weight.dtype == gc.float32


def test_hvp_quadratic_model_is_exact():
    # mean squared error of a linear model: H = 2/N X^T X whatever the weights
    x, _ = _data(60, 6, 2)
    y = np.random.default_rng(1).standard_normal((60, 1))
    model = nn.Linear(6, 1, bias=False).double()
    h = 2 / len(x) * x.T @ x
    v = np.random.default_rng(2).standard_normal(6)
    assert _rel(hessian_vector_product(model, F.mse_loss, (x, y), v), h @ v) < 1e-8


def test_hvp_matches_gradient_difference_with_another_step():
    x, y = _data(40, 4, 3)
    model = _mlp()
    v = np.random.default_rng(5).standard_normal(67)
    ref_model = copy.deepcopy(model).double()
    params = list(ref_model.parameters())
    theta = [p.detach().numpy().copy() for p in params]

    def grad_at(step):
        off = 0
        for p, t in zip(params, theta):
            p._data[...] = t + step * v[off:off + t.size].reshape(t.shape)
            off += t.size
        loss = F.cross_entropy(ref_model(gc.tensor(x)), gc.tensor(y))
        return np.concatenate([g.numpy().ravel() for g in gc.autograd.grad(loss, params)])

    h = 1e-4                                 # not the library's step (about 6e-6 · |θ| / |v|)
    ref = (grad_at(h) - grad_at(-h)) / (2 * h)
    assert _rel(hessian_vector_product(model, F.cross_entropy, (x, y), v), ref) < 1e-6


def test_tanh_mlp_hessian_symmetric_and_eigenvalues_match_numpy():
    x, y = _data(40, 4, 3)
    model = _mlp()
    batch = (x.astype(np.float32), y)
    h = _assemble(model, F.cross_entropy, batch)
    assert h.shape == (67, 67)
    assert np.linalg.norm(h - h.T) / np.linalg.norm(h) < 1e-7
    ev = np.linalg.eigvalsh((h + h.T) / 2)
    assert ev[0] < 0 < ev[-1]                # a random init sits on a saddle
    for k in (1, 3):
        top = hessian_eigenvalues(model, F.cross_entropy, batch, k=k)
        bottom = hessian_eigenvalues(model, F.cross_entropy, batch, k=k, which="bottom")
        np.testing.assert_allclose(top, ev[::-1][:k], rtol=1e-2)
        np.testing.assert_allclose(bottom, ev[:k], rtol=1e-2)
        assert np.all(np.diff(top) <= 0) and np.all(np.diff(bottom) >= 0)
    both = hessian_eigenvalues(model, F.cross_entropy, batch, k=2, which="both")
    assert isinstance(both, Eigenvalues)
    top, bottom = both
    np.testing.assert_allclose(top, ev[::-1][:2], rtol=1e-2)
    np.testing.assert_allclose(bottom, ev[:2], rtol=1e-2)


def test_saddle_has_negative_bottom_eigenvalue():
    # L(w1, w2) = mean((w2 w1 x - y)^2) at w = 0: H = [[0, -2c], [-2c, 0]], c = mean(x y)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 1))
    y = 0.7 * x + 0.1 * rng.standard_normal((30, 1))
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    for p in model.parameters():
        p._data[...] = 0.0
    c = float(np.mean(x * y))
    top, bottom = hessian_eigenvalues(model, F.mse_loss, (x, y), which="both")
    np.testing.assert_allclose(top, [2 * abs(c)], rtol=1e-6)
    np.testing.assert_allclose(bottom, [-2 * abs(c)], rtol=1e-6)


def test_model_untouched():
    x, y = _data(40, 4, 3)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.5),
                          nn.Linear(6, 3))
    model.train()
    model(gc.tensor(x.astype(np.float32)))                 # running statistics not at init
    state = {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()}
    n = sum(p.numel() for p in model.parameters())
    hv = hessian_vector_product(model, F.cross_entropy, (x, y), np.ones(n))
    hv2 = hessian_vector_product(model, F.cross_entropy, (x, y), np.ones(n))
    np.testing.assert_array_equal(hv, hv2)    # eval mode: dropout off, deterministic
    hessian_eigenvalues(model, F.cross_entropy, (x, y), k=2, which="both", iters=10, tol=1.0)
    assert {k: v.detach().numpy().tobytes() for k, v in model.state_dict().items()} == state
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert all(p.dtype == gc.float32 for p in model.parameters())


def test_budget_exhausted_warns():
    x, y = _data(40, 4, 3)
    with pytest.warns(RuntimeWarning, match="hessian_eigenvalues: Lanczos did not converge"):
        hessian_eigenvalues(_mlp(), F.cross_entropy, (x, y), k=1, iters=3, tol=1e-12)


def test_zero_vector_gives_zero():
    x, y = _data(10, 4, 3)
    np.testing.assert_array_equal(
        hessian_vector_product(_mlp(), F.cross_entropy, (x, y), np.zeros(67)), np.zeros(67))


@pytest.mark.parametrize("kwargs, err, match", [
    ({"which": "middle"}, ValueError, "hessian_eigenvalues: which must be"),
    ({"k": 0}, ValueError, r"hessian_eigenvalues: k must be an int in \[1, 67\]"),
    ({"k": 68}, ValueError, r"hessian_eigenvalues: k must be an int in \[1, 67\]"),
    ({"iters": 0}, ValueError, "hessian_eigenvalues: iters must be"),
    ({"tol": 0}, ValueError, "hessian_eigenvalues: tol must be"),
])
def test_eigenvalue_argument_errors(kwargs, err, match):
    x, y = _data(10, 4, 3)
    with pytest.raises(err, match=match):
        hessian_eigenvalues(_mlp(), F.cross_entropy, (x, y), **kwargs)


def test_vector_and_batch_errors():
    x, y = _data(10, 4, 3)
    model = _mlp()
    with pytest.raises(ValueError, match="hessian_vector_product: vector must be a flat array "
                                         "of 67 elements"):
        hessian_vector_product(model, F.cross_entropy, (x, y), np.ones(66))
    with pytest.raises(ValueError, match="hessian_vector_product: vector has 1 arrays for 4"):
        hessian_vector_product(model, F.cross_entropy, (x, y), [np.ones(3)])
    with pytest.raises(ValueError, match=r"hessian_vector_product: vector\[1\] has shape"):
        hessian_vector_product(model, F.cross_entropy, (x, y),
                               [np.ones((8, 4)), np.ones(7), np.ones((3, 8)), np.ones(3)])
    with pytest.raises(TypeError, match="hessian_vector_product: batch must be a tuple"):
        hessian_vector_product(model, F.cross_entropy, x, np.ones(67))
    with pytest.raises(ValueError, match="hessian_vector_product: loss_fn must return a scalar"):
        hessian_vector_product(model, lambda o, t: o, (x, y), np.ones(67))


def test_hessian_matches_torch_double_backward():
    torch = pytest.importorskip("torch", reason="optional parity check against torch")
    x, y = _data(40, 4, 3)
    model = _mlp()
    ps = [torch.tensor(p.detach().numpy().astype(np.float64)) for p in model.parameters()]

    def loss(*ps):
        h = torch.tanh(torch.tensor(x) @ ps[0].T + ps[1])
        return torch.nn.functional.cross_entropy(h @ ps[2].T + ps[3], torch.tensor(y))

    blocks = torch.autograd.functional.hessian(loss, tuple(ps))
    sizes = [p.numel() for p in ps]
    ref = np.block([[blocks[i][j].reshape(sizes[i], sizes[j]).numpy() for j in range(4)]
                    for i in range(4)])
    assert _rel(_assemble(model, F.cross_entropy, (x, y)), ref) < 1e-8
