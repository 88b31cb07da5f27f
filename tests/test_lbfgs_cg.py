"""LBFGS and ConjugateGradient: L2-regularised multinomial logistic regression on the sklearn
digits driven to a gradient norm below 1e-5, and problems with known minimisers (a convex
quadratic, Rosenbrock from (-1.2, 1))."""
import numpy as np
import pytest

import gradcore as gc
from gradcore.optim.lbfgs import _cubic_interpolate

LAM = 1e-3


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(np.int64)


def logreg_problem(X, y, opt_factory):
    """Mean cross-entropy of softmax(X W + b) + LAM ||W||^2, built from gc ops."""
    N = len(y)
    Xt, yt, rows = gc.tensor(X, dtype=gc.float64), gc.tensor(y), gc.arange(N)
    W = gc.zeros(64, 10, dtype=gc.float64, requires_grad=True)
    b = gc.zeros(10, dtype=gc.float64, requires_grad=True)
    opt = opt_factory([W, b])

    def closure():
        opt.zero_grad()
        z = Xt @ W + b
        m = z.amax(1, keepdim=True)
        lse = ((z - m).exp().sum(1, keepdim=True).log() + m).squeeze(1)
        loss = (lse - z[rows, yt]).mean() + LAM * (W * W).sum()
        loss.backward()
        return loss
    return W, b, opt, closure


def np_logreg_grad(X, y, W, b):
    """The loss gradient in numpy: X^T (softmax - onehot) / N + 2 LAM W, and its b part."""
    z = X @ W + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return np.concatenate([(X.T @ p / len(y) + 2 * LAM * W).ravel(), p.mean(0)])


@pytest.mark.parametrize("name,kw", [
    ("LBFGS", dict(line_search_fn="strong_wolfe", max_iter=100)),
    ("LBFGS", dict(max_iter=100, tolerance_change=1e-12)),
    ("ConjugateGradient", dict(max_iter=100, tolerance_change=1e-12)),
    ("ConjugateGradient", dict(max_iter=100, tolerance_change=1e-12, beta="HS")),
], ids=["lbfgs-wolfe", "lbfgs-fixed", "cg-pr+", "cg-hs"])
def test_digits_logistic_regression_converges(digits, name, kw):
    X, y = digits
    W, b, opt, closure = logreg_problem(X, y, lambda ps: getattr(gc.optim, name)(ps, **kw))
    first = opt.step(closure)
    assert isinstance(first, gc.Tensor) and abs(first.item() - np.log(10)) < 1e-12
    for _ in range(20):
        g = np_logreg_grad(X, y, W.detach().numpy(), b.detach().numpy())
        if np.linalg.norm(g) < 1e-5:
            break
        opt.step(closure)
    g = np_logreg_grad(X, y, W.detach().numpy(), b.detach().numpy())
    assert np.linalg.norm(g) < 1e-5
    closure()  # gc's own gradient agrees with the numpy one
    g_gc = np.concatenate([W.grad.numpy().ravel(), b.grad.numpy()])
    np.testing.assert_allclose(g_gc, g, atol=1e-12)


@pytest.fixture(scope="module")
def quadratic():
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    A = Q @ np.diag(np.geomspace(1.0, 50.0, 20)) @ Q.T  # SPD, condition number 50
    bvec = rng.standard_normal(20)
    return A, bvec, np.linalg.solve(A, bvec)


@pytest.mark.parametrize("name,kw", [
    ("LBFGS", dict(line_search_fn="strong_wolfe")), ("LBFGS", dict()),
    ("LBFGS", dict(line_search_fn="strong_wolfe", history_size=3)),
    ("ConjugateGradient", dict(beta="PR+")), ("ConjugateGradient", dict(beta="PR")),
    ("ConjugateGradient", dict(beta="FR")), ("ConjugateGradient", dict(beta="HS")),
    ("ConjugateGradient", dict(beta="DY")),
])
def test_convex_quadratic_reaches_its_minimiser(quadratic, name, kw):
    A, bvec, x_star = quadratic
    At = gc.tensor(A)
    x = gc.zeros(20, dtype=gc.float64, requires_grad=True)
    opt = getattr(gc.optim, name)([x], max_iter=100, tolerance_grad=1e-11,
                                  tolerance_change=1e-20, **kw)

    xs = gc.tensor(x_star)

    def closure():
        # 0.5 x^T A x - b^T x up to a constant, written around x* = A^-1 b: with a minimum of
        # exactly 0, loss changes near x* are not lost to rounding against a large constant
        opt.zero_grad()
        r = x - xs
        f = 0.5 * (r @ (At @ r))
        f.backward()
        return f
    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), x_star, atol=1e-8)


@pytest.mark.parametrize("name,kw", [
    ("LBFGS", dict(line_search_fn="strong_wolfe")),
    ("ConjugateGradient", dict(beta="PR+")), ("ConjugateGradient", dict(beta="HS")),
])
def test_rosenbrock_from_standard_start(name, kw):
    p = gc.tensor([-1.2, 1.0], dtype=gc.float64, requires_grad=True)
    opt = getattr(gc.optim, name)([p], max_iter=200, tolerance_change=1e-15, **kw)

    def closure():
        opt.zero_grad()
        f = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
        f.backward()
        return f
    first = opt.step(closure)
    assert first.item() == pytest.approx(24.2)  # f(-1.2, 1)
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(p.detach().numpy(), [1.0, 1.0], atol=1e-6)


def test_max_eval_and_counters():
    p = gc.tensor([-1.2, 1.0], dtype=gc.float64, requires_grad=True)
    calls = []
    opt = gc.optim.LBFGS([p], max_iter=50, max_eval=7, line_search_fn="strong_wolfe")

    def closure():
        calls.append(1)
        opt.zero_grad()
        f = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
        f.backward()
        return f
    opt.step(closure)
    assert opt.param_groups[0]["max_eval"] == 7
    assert len(calls) == opt.state[p]["func_evals"] <= 7 + 1  # as torch: the check follows the search


def test_optimum_returns_without_iterating():
    p = gc.tensor([1.0, 1.0], dtype=gc.float64, requires_grad=True)
    opt = gc.optim.ConjugateGradient([p])

    def closure():
        opt.zero_grad()
        f = ((p - 1.0) ** 2).sum()
        f.backward()
        return f
    assert opt.step(closure).item() == 0.0
    assert opt.state[p]["n_iter"] == 0 and opt.state[p]["func_evals"] == 1


def test_lbfgs_state_dict_round_trip_continues_identically(quadratic):
    A, bvec, _ = quadratic
    At, bt = gc.tensor(A), gc.tensor(bvec)

    def setup():
        x = gc.tensor(np.linspace(-1, 1, 20), requires_grad=True)
        opt = gc.optim.LBFGS([x], max_iter=4, history_size=3)

        def closure():
            opt.zero_grad()
            f = 0.5 * (x @ (At @ x)) - bt @ x
            f.backward()
            return f
        return x, opt, closure
    x1, opt1, c1 = setup()
    for _ in range(2):
        opt1.step(c1)
    sd = opt1.state_dict()
    conv = lambda v: (np.array(v.numpy()) if isinstance(v, gc.Tensor)  # noqa: E731
                      else [conv(u) for u in v] if isinstance(v, list) else v)
    saved = {"state": {i: {k: conv(v) for k, v in s.items()} for i, s in sd["state"].items()},
             "param_groups": sd["param_groups"]}
    assert len(saved["state"][0]["old_dirs"]) == 3
    x2, opt2, c2 = setup()
    x2.detach().numpy()[:] = x1.detach().numpy()
    opt2.load_state_dict(saved)
    for _ in range(2):
        opt1.step(c1)
        opt2.step(c2)
    np.testing.assert_array_equal(x1.detach().numpy(), x2.detach().numpy())


def test_bad_arguments_raise():
    p = gc.zeros(3, dtype=gc.float64, requires_grad=True)
    q = gc.zeros(2, dtype=gc.float64, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        gc.optim.LBFGS([{"params": [p]}, {"params": [q]}])
    with pytest.raises(ValueError, match="Invalid line_search_fn: 'armijo'"):
        gc.optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        gc.optim.ConjugateGradient([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta: 'XX'"):
        gc.optim.ConjugateGradient([p], beta="XX")
    with pytest.raises(ValueError, match="Invalid history_size value: 0"):
        gc.optim.LBFGS([p], history_size=0)
    with pytest.raises(TypeError, match="same dtype"):
        gc.optim.LBFGS([p, gc.zeros(2, requires_grad=True)])
    opt = gc.optim.LBFGS([p])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [q]})


def test_cubic_interpolate_finds_the_minimum_of_a_cubic():
    f = lambda x: (x - 0.3) ** 2 * (x + 2.0)  # noqa: E731  local minimum at 0.3
    df = lambda x: 2 * (x - 0.3) * (x + 2.0) + (x - 0.3) ** 2  # noqa: E731
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 1.0, f(1.0), df(1.0)) == pytest.approx(0.3)
    assert _cubic_interpolate(1.0, f(1.0), df(1.0), 0.0, f(0.0), df(0.0)) == pytest.approx(0.3)
    # clamped to the bounds; no real minimiser (d2^2 < 0) gives the middle of the bounds
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 1.0, f(1.0), df(1.0), bounds=(0.5, 2)) == 0.5
    assert _cubic_interpolate(0.0, 0.0, 2.0, 1.0, 4 / 3, 2.0, bounds=(0.0, 4.0)) == 2.0
