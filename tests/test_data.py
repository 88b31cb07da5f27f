import sys

import numpy as np
import pytest

import gradcore as gc
from gradcore import data as D


def _xy(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return X, np.arange(n, dtype=np.int64)


# ---- TensorDataset --------------------------------------------------------------------------
def test_tensor_dataset_mixed_inputs():
    X, y = _xy()
    ds = D.TensorDataset(gc.tensor(X), y)
    assert len(ds) == 10
    a, b = ds[3]
    assert isinstance(a, gc.Tensor) and isinstance(b, gc.Tensor)
    np.testing.assert_array_equal(a.numpy(), X[3])
    assert b.item() == 3 and b.dtype == gc.int64


def test_tensor_dataset_shares_numpy_memory():
    X, y = _xy()
    ds = D.TensorDataset(X, y)
    assert np.shares_memory(ds.tensors[0].numpy(), X)


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match="first .sample. dimension"):
        D.TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="0-d"):
        D.TensorDataset(np.float32(1.0))
    with pytest.raises(ValueError, match="at least one"):
        D.TensorDataset()


# ---- DataLoader -----------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop,expect", [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]),
                                              (10, 5, False, [5, 5]), (10, 20, False, [10]),
                                              (10, 20, True, []), (1, 1, False, [1])])
def test_loader_batches_in_order(n, bs, drop, expect):
    X, y = _xy(n)
    loader = D.DataLoader(D.TensorDataset(X, y), batch_size=bs, drop_last=drop)
    assert len(loader) == len(expect)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == expect
    if expect:
        got = np.concatenate([b[1].numpy() for b in batches])
        np.testing.assert_array_equal(got, np.arange(sum(expect)))
        for xb, yb in batches:
            assert isinstance(xb, gc.Tensor) and xb.dtype == gc.float32 and yb.dtype == gc.int64
            np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])


def test_loader_shuffle_is_a_permutation_and_pairs_stay_together():
    X, y = _xy(23)
    loader = D.DataLoader(D.TensorDataset(X, y), batch_size=4, shuffle=True, seed=1)
    ys = []
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])
        ys.append(yb.numpy())
    ys = np.concatenate(ys)
    assert sorted(ys) == list(range(23)) and not np.array_equal(ys, np.arange(23))


def _epochs(loader, k):
    return [np.concatenate([b[1].numpy() for b in loader]) for _ in range(k)]


def test_seeded_loader_reproducible_sequence_of_epochs():
    X, y = _xy(50)
    mk = lambda s: D.DataLoader(D.TensorDataset(X, y), batch_size=8, shuffle=True, seed=s)
    a, b = _epochs(mk(7), 3), _epochs(mk(7), 3)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], a[1])  # a new permutation each epoch
    assert not np.array_equal(a[0], _epochs(mk(8), 1)[0])


def test_seeded_loader_ignores_global_generator():
    X, y = _xy(30)
    gc.manual_seed(0)
    a = _epochs(D.DataLoader(D.TensorDataset(X, y), 4, shuffle=True, seed=3), 1)[0]
    gc.manual_seed(99)
    gc.randn(10)
    b = _epochs(D.DataLoader(D.TensorDataset(X, y), 4, shuffle=True, seed=3), 1)[0]
    np.testing.assert_array_equal(a, b)


def test_unseeded_loader_uses_global_generator():
    X, y = _xy(30)
    loader = D.DataLoader(D.TensorDataset(X, y), 4, shuffle=True)
    gc.manual_seed(5)
    a = _epochs(loader, 2)
    gc.manual_seed(5)
    b = _epochs(loader, 2)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)


def test_loader_state_dict_resumes_epoch_sequence():
    X, y = _xy(40)
    ref = _epochs(D.DataLoader(D.TensorDataset(X, y), 8, shuffle=True, seed=4), 4)
    first = D.DataLoader(D.TensorDataset(X, y), 8, shuffle=True, seed=4)
    _epochs(first, 2)
    resumed = D.DataLoader(D.TensorDataset(X, y), 8, shuffle=True, seed=4)
    resumed.load_state_dict(first.state_dict())
    for e, r in zip(_epochs(resumed, 2), ref[2:]):
        np.testing.assert_array_equal(e, r)
    with pytest.raises(ValueError, match="seed"):
        D.DataLoader(D.TensorDataset(X, y), 8, shuffle=True, seed=5).load_state_dict(
            first.state_dict())


@pytest.mark.parametrize("seed,shuffle", [(4, True), (None, True), (None, False)])
def test_loader_state_dict_resumes_mid_epoch(tmp_path, seed, shuffle):
    X, y = _xy(21)
    mk = lambda: D.DataLoader(D.TensorDataset(X, y), 4, shuffle=shuffle, seed=seed)

    def stream(loader, epochs):
        for _ in range(epochs):
            yield from (b[1].numpy() for b in loader)

    gc.manual_seed(0)
    ref = list(stream(mk(), 3))  # 6 batches per epoch
    gc.manual_seed(0)
    first = mk()
    it = stream(first, 3)
    got = [next(it) for _ in range(8)]  # 1 epoch + 2 batches
    gc.save(first.state_dict(), tmp_path / "loader")
    state = gc.get_rng_state()
    resumed = mk()
    resumed.load_state_dict(gc.load(tmp_path / "loader"))
    gc.set_rng_state(state)
    rest = stream(resumed, 3)
    got += [next(rest) for _ in range(10)]
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert len(got) == len(ref)


def test_loader_batches_in_bulk(monkeypatch):
    """A TensorDataset batch is one gather per tensor, never a per-sample read."""
    X, y = _xy(12)
    ds = D.TensorDataset(X, y)
    monkeypatch.setattr(D.TensorDataset, "__getitem__",
                        lambda self, i: pytest.fail("per-sample access"))
    calls = []
    orig = D.TensorDataset.__getitems__
    monkeypatch.setattr(D.TensorDataset, "__getitems__",
                        lambda self, idx: calls.append(1) or orig(self, idx))
    for shuffle in (False, True):
        calls.clear()
        assert len(list(D.DataLoader(ds, 5, shuffle=shuffle, seed=0))) == 3
        assert len(calls) == 3


class _ListDataset:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, i, np.float64), i


def test_loader_generic_dataset_collates():
    xb, yb = next(iter(D.DataLoader(_ListDataset(5), batch_size=3)))
    assert xb.shape == (3, 2) and xb.dtype == gc.float64
    np.testing.assert_array_equal(yb.numpy(), [0, 1, 2])
    assert yb.dtype == gc.int64


@pytest.mark.parametrize("kw,err", [({"batch_size": 0}, ValueError), ({"batch_size": 1.5}, ValueError),
                                    ({"seed": "x"}, TypeError)])
def test_loader_bad_arguments(kw, err):
    with pytest.raises(err):
        D.DataLoader(D.TensorDataset(*_xy()), **kw)
    with pytest.raises(TypeError, match="__len__"):
        D.DataLoader(object())


# ---- datasets -------------------------------------------------------------------------------
def test_load_digits():
    Xtr, ytr, Xte, yte = D.load_digits()
    assert Xtr.dtype == np.float32 and Xte.dtype == np.float32
    assert ytr.dtype == np.int64 and yte.dtype == np.int64
    assert Xtr.shape[1] == 64 and len(Xtr) + len(Xte) == 1797 and len(ytr) == len(Xtr)
    assert abs(len(Xte) / 1797 - 0.2) < 0.005
    assert Xtr.min() >= 0 and Xtr.max() <= 1 and Xtr.max() == 1
    # stratified: every class's test share is ~20%
    share = np.bincount(yte, minlength=10) / (np.bincount(yte, minlength=10)
                                              + np.bincount(ytr, minlength=10))
    assert np.all(np.abs(share - 0.2) < 0.01)
    # fixed split, and shuffled (labels not sorted)
    again = D.load_digits()
    for a, b in zip((Xtr, ytr, Xte, yte), again):
        np.testing.assert_array_equal(a, b)
    assert not np.all(np.diff(ytr) >= 0)
    # the split is a partition of sklearn's data, scaled by 1/16
    from sklearn.datasets import load_digits
    full = load_digits().data.astype(np.float32) / 16
    rows = {r.tobytes() for r in full}
    assert all(r.tobytes() in rows for r in Xte[:20])


def test_load_digits_images():
    Xtr, ytr, Xte, yte = D.load_digits(images=True)
    assert Xtr.shape[1:] == (1, 8, 8) and Xte.shape[1:] == (1, 8, 8)
    np.testing.assert_array_equal(Xtr.reshape(len(Xtr), 64), D.load_digits()[0])


def test_digits_fast_path_matches_sklearn(monkeypatch):
    from sklearn.datasets import load_digits
    d = load_digits()
    fast = D._read_digits()
    np.testing.assert_array_equal(fast[:, :64], d.data)
    np.testing.assert_array_equal(fast[:, 64], d.target)
    # without the CSV next to the package, sklearn's loader is used and gives the same split
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    slow = D._read_digits()
    np.testing.assert_array_equal(slow, fast)


def test_load_digits_without_sklearn(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install gradcore\[data\]"):
        D.load_digits()


@pytest.mark.parametrize("make,kw,classes", [(D.make_moons, {}, 2),
                                              (D.make_spirals, {}, 3),
                                              (D.make_spirals, {"n_classes": 5}, 5)])
def test_synthetic_sets(make, kw, classes):
    X, y = make(n_samples=101, seed=0, **kw)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(classes))
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(n_samples=101, seed=0, **kw)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n_samples=101, seed=1, **kw)
    assert not np.array_equal(X, X3)


def test_moons_geometry_without_noise():
    X, y = D.make_moons(n_samples=100, noise=0.0, seed=0)
    upper = X[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    lower = X[y == 1]
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)


def test_spirals_radius_in_unit_disc():
    X, y = D.make_spirals(n_samples=300, noise=0.5, seed=2)
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6)


@pytest.mark.parametrize("make", [D.make_moons, D.make_spirals])
def test_synthetic_bad_n(make):
    with pytest.raises(ValueError, match="n_samples"):
        make(n_samples=0)
