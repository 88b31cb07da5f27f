"""The engine's C fast path (csrc/bind/graph.cpp) against its Python path (engine.make and
engine.backward, which run whenever a dispatcher hook is installed): same values to the bit,
same graph structure, same errors, and no leaked references."""
import sys

import numpy as np
import pytest

import gradcore as gc
from gradcore import dispatch as D


class python_path:
    """Forces the Python path: a do-nothing dispatcher hook (as a profiler would install)."""

    def __enter__(self):
        self.h = D.add_hook(lambda *a: None)

    def __exit__(self, *exc):
        self.h.remove()


def _leaves(dtype, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [gc.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _graphs():
    """(name, shapes, fn): graphs mixing the fast ops with shared nodes, broadcasting, leaves
    used several times, ops the fast path leaves to Python and every activation."""
    def chain(x, a, b):
        y = x
        for _ in range(5):
            y = gc.tanh(y * a + b)
        return y.sum()

    def diamond(x, a, b):
        h = gc.sigmoid(x * a)
        return (h * h + h - b * h).sum()

    def acts(x, a, b):
        y = gc.relu(x) + gc.nn.functional.gelu(a) * gc.nn.functional.leaky_relu(b, 0.2)
        return (gc.nn.functional.softplus(y) + gc.clamp(y, -0.5, 0.5) + gc.sigmoid(y)).sum()

    def math(x, a, b):
        y = gc.exp(x) / (gc.abs(a) + 1.0) - gc.log(gc.abs(b) + 0.5) * gc.sin(a)
        return (gc.sqrt(gc.abs(y) + 1.0) * gc.cos(x) / b).sum()

    def mixed(x, a, b):  # matmul, reshape and mean go through Python rules
        return (gc.exp(x @ a.T) * b.reshape(-1)[:4].reshape(4, 1)).mean()

    return [("chain", [(3, 4), (3, 4), (3, 4)], chain),
            ("broadcast", [(3, 4), (4,), (1, 4)], chain),
            ("diamond", [(2, 3), (2, 3), (3,)], diamond),
            ("activations", [(5,), (5,), (5,)], acts),
            ("math", [(3, 4), (4,), (3, 1)], math),
            ("mixed", [(4, 4), (4, 4), (2, 4)], mixed),
            ("scalars", [(), (), ()], chain),
            ("empty", [(0, 3), (3,), (0, 3)], chain)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shapes,fn", _graphs())
def test_fast_and_python_paths_agree_to_the_bit(name, shapes, fn, dtype):
    fast = _leaves(dtype, shapes)
    slow = _leaves(dtype, shapes)
    lf = fn(*fast)
    with python_path():
        ls = fn(*slow)
    assert type(lf.grad_fn) is type(ls.grad_fn) and lf.grad_fn.name() == ls.grad_fn.name()
    lf.backward()
    with python_path():
        ls.backward()
    np.testing.assert_array_equal(lf.detach().numpy(), ls.detach().numpy())
    for f, s in zip(fast, slow):
        assert (f.grad is None) == (s.grad is None)
        if f.grad is not None:
            assert f.grad.dtype == s.grad.dtype and f.grad.shape == s.grad.shape
            np.testing.assert_array_equal(f.grad.numpy(), s.grad.numpy())


def test_fast_graph_node_matches_python_node():
    a, b = _leaves(np.float32, [(2, 3), (3,)])
    c = gc.tensor(np.ones(3, np.float32))                  # no grad: parent None
    f = a * b + c
    with python_path():
        s = a * b + c
    for x, y in ((f.grad_fn, s.grad_fn), (f.grad_fn.parents[0], s.grad_fn.parents[0])):
        assert x.prim is y.prim and x.needs == y.needs and x.shapes == y.shapes
        assert [type(p) for p in x.parents] == [type(p) for p in y.parents]
        assert len(x.saved) == len(y.saved) and x.stamp == y.stamp
    assert f.grad_fn.parents[1] is None and f.requires_grad and not f.is_leaf
    assert f.grad_fn.parents[0].parents == (a, b)
    with gc.no_grad():
        n = a * b
    assert n.grad_fn is None and not n.requires_grad and n.grad is None
    t = gc.tanh(c)
    assert t.grad_fn is None and not t.requires_grad


def test_fast_path_keeps_hooks_retain_grad_and_accumulation():
    a, b = _leaves(np.float64, [(3,), (3,)])
    h = a * b
    h.retain_grad()
    seen = []
    m = gc.tanh(h)
    m.register_hook(lambda g: seen.append(g.detach().numpy().copy()) or g * 2)
    y = (m + b).sum()
    y.backward(retain_graph=True)
    g1 = a.grad.numpy().copy()
    y.backward()                                          # accumulates into .grad
    np.testing.assert_allclose(a.grad.numpy(), 2 * g1)
    assert len(seen) == 2 and h.grad is not None
    A, B = a.detach().numpy(), b.detach().numpy()
    t = np.tanh(A * B)
    np.testing.assert_allclose(g1, 2 * (1 - t * t) * B)
    np.testing.assert_allclose(h.grad.numpy(), 2 * 2 * (1 - t * t))


def test_fast_path_errors_are_the_python_ones():
    a, b = _leaves(np.float32, [(2, 3), (4,)])
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\)"):
        a * b
    y = (a * a).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    w = x * 1.0
    z = (gc.tanh(w) * w).sum()
    w.add_(1.0)                                            # modifies a saved tensor in place
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()
    i = gc.tensor([1, 2])
    with pytest.raises(TypeError):
        gc.tanh(i)


def test_fast_path_hands_each_leaf_its_own_buffer():
    a = gc.tensor([1.0, 2.0], requires_grad=True)
    b = gc.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()                              # add passes one gradient to both
    a.grad.add_(1.0)
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_fast_path_falls_back_for_non_contiguous_and_mixed_inputs():
    a = gc.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t = a.T                                                # a non-contiguous view
    y = (gc.tanh(t) * gc.tensor(np.ones((3, 2), np.float32))).sum()
    y.backward()
    np.testing.assert_allclose(a.grad.numpy(), 1 - np.tanh(np.arange(6.0).reshape(2, 3)) ** 2)
    assert y.dtype == gc.float64


def test_fast_path_leaks_no_references():
    a, b = _leaves(np.float32, [(4, 4), (4, 4)])

    def step():
        a.grad = b.grad = None
        y = a
        for _ in range(3):
            y = gc.sigmoid(y * b + a)
        y.sum().backward()

    step()
    ra, rb = sys.getrefcount(a), sys.getrefcount(b)
    live = gc.memory_stats()["allocated_bytes"]
    for _ in range(200):
        step()
    assert sys.getrefcount(a) == ra and sys.getrefcount(b) == rb
    assert gc.memory_stats()["allocated_bytes"] == live


_UNARY = [gc.tanh, gc.sigmoid, gc.relu, gc.exp, gc.sin, gc.cos, gc.abs,
          lambda t: gc.sqrt(gc.abs(t) + 0.1), lambda t: gc.log(gc.abs(t) + 0.1),
          lambda t: gc.nn.functional.gelu(t), lambda t: t.reshape(-1).reshape(t.shape),
          lambda t: t * 0.5, lambda t: -t, lambda t: 1.0 - t, lambda t: t + 2, lambda t: 3 * t,
          lambda t: t / 4.0, lambda t: 2 - t * 0.25]
_BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
           lambda a, b: a / (gc.abs(b) + 0.5), gc.maximum, lambda a, b: gc.where(a > b, a, b)]


def _random_graph(rng, dtype):
    """A random DAG over 2-4 leaves of broadcastable shapes (some without grad), ops drawn from
    the fast and the Python-only kinds, values reused several times; returns leaves and a
    function building the scalar loss."""
    base = tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    shapes = [base] + [tuple(d if rng.random() < 0.6 else 1
                             for d in base)[int(rng.integers(0, len(base) + 1)):]
                       for _ in range(int(rng.integers(1, 4)))]
    data = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [True] + [bool(rng.random() < 0.7) for _ in shapes[1:]]
    plan = [(int(rng.integers(0, 2)), int(rng.integers(0, 100)), int(rng.integers(0, 100)),
             int(rng.integers(0, 100))) for _ in range(int(rng.integers(1, 12)))]

    def build(leaves):
        vals = list(leaves)
        for kind, f, i, j in plan:
            if kind == 0:
                vals.append(_UNARY[f % len(_UNARY)](vals[i % len(vals)]))
            else:
                vals.append(_BINARY[f % len(_BINARY)](vals[i % len(vals)], vals[j % len(vals)]))
        outs = vals[len(leaves):]
        return sum((v * float(k + 1)).sum() for k, v in enumerate(outs)) + vals[0].sum()

    def leaves():
        return [gc.tensor(d.copy(), requires_grad=g) for d, g in zip(data, grads)]
    return leaves, build


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_graphs_agree_between_paths(dtype):
    rng = np.random.default_rng(7 if dtype is np.float32 else 8)
    for case in range(150):
        make_leaves, build = _random_graph(rng, dtype)
        fast, slow = make_leaves(), make_leaves()
        lf = build(fast)
        retain = bool(case % 3 == 0)
        lf.backward(retain_graph=retain)
        if retain:
            lf.backward()                     # accumulates a second time, through the C walk
        with python_path():
            ls = build(slow)
            ls.backward(retain_graph=retain)
            if retain:
                ls.backward()
        np.testing.assert_array_equal(lf.detach().numpy(), ls.detach().numpy(), err_msg=str(case))
        for f, s in zip(fast, slow):
            assert (f.grad is None) == (s.grad is None), case
            if f.grad is not None:
                np.testing.assert_array_equal(f.grad.numpy(), s.grad.numpy(), err_msg=str(case))
