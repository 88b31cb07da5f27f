"""Datasets and batching: ``TensorDataset``, ``DataLoader``, the bundled digits, and synthetic
2-D classification sets (moons, spirals).

    X, y, Xt, yt = gc.data.load_digits()
    loader = gc.data.DataLoader(gc.data.TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:      # xb (32, 64) float32, yb (32,) int64 gc tensors
        ...
"""
import math

import numpy as np

from . import dtypes as _dt
from .tensor import Tensor, as_tensor, randperm

__all__ = ["TensorDataset", "DataLoader", "DistributedSampler", "load_digits", "make_moons",
           "make_spirals"]


class TensorDataset:
    """Samples are rows of equally long arrays: ``ds[i] == (a[i], b[i], ...)``.

    Takes gc tensors or numpy arrays (numpy arrays are shared, not copied, when their dtype is a
    gc dtype and they are C-contiguous). ``ds.tensors`` holds the gc tensors.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        ts = []
        for i, a in enumerate(arrays):
            if not isinstance(a, (Tensor, np.ndarray)):
                a = np.asarray(a)
            t = as_tensor(a).detach()
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: array {i} is 0-d; every array needs a leading "
                                 "sample dimension")
            ts.append(t)
        n = {t.shape[0] for t in ts}
        if len(n) != 1:
            raise ValueError("TensorDataset: arrays differ in their first (sample) dimension: "
                             f"shapes {[t.shape for t in ts]}")
        self.tensors = tuple(ts)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, idx):
        """A whole batch at once: one gather (index_select kernel) per tensor."""
        return tuple(t[idx] for t in self.tensors)


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``, yielding tuples of gc tensors.

    ``shuffle=True`` draws a new permutation every epoch (every ``iter(loader)``): from a private
    numpy generator seeded once with ``seed`` (so the whole sequence of epochs is reproducible and
    independent of other random draws), or from the global gc generator (``gc.randperm``) when
    ``seed`` is None (from ``generator``, a ``gc.Generator``, when given). Datasets with ``__getitems__(indices)`` (TensorDataset) are sliced in bulk;
    others are read sample by sample and stacked. ``sampler`` (e.g. a ``DistributedSampler``,
    or any sized iterable of indices) gives each epoch's indices instead; it excludes
    ``shuffle=True``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 sampler=None, generator=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(f"DataLoader: seed must be an int or None, got {type(seed).__name__}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError("DataLoader: dataset needs __len__ and __getitem__ (e.g. "
                            "gc.data.TensorDataset)")
        if generator is not None:
            from .generator import Generator
            if not isinstance(generator, Generator):
                raise TypeError("DataLoader: generator must be a gradcore.Generator, got "
                                f"{type(generator).__name__}")
            if seed is not None:
                raise ValueError("DataLoader: give seed or generator, not both")
        self.generator = generator
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if sampler is not None and not (hasattr(sampler, "__iter__")
                                        and hasattr(sampler, "__len__")):
            raise TypeError("DataLoader: sampler must be a sized iterable of indices, got "
                            f"{type(sampler).__name__}")
        self.sampler = sampler
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._epochs_drawn = 0
        self._order, self._pos = None, 0   # the current epoch: its permutation, batches handed out
        self._resume = False

    def __len__(self):
        n, b = self._count(), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def _count(self):
        return len(self.dataset) if self.sampler is None else len(self.sampler)

    def _draw(self, n):
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), np.int64, count=len(self.sampler))
        if not self.shuffle:
            return None
        self._epochs_drawn += 1
        if self._rng is not None:
            return self._rng.permutation(n).astype(np.int64)
        return randperm(n, generator=self.generator).numpy()

    def __iter__(self):
        n = self._count()
        if self._resume and self._pos < len(self):
            start = self._pos  # finish the epoch a loaded state_dict was saved in
        else:
            self._order, start = self._draw(n), 0
        self._resume = False
        order = self._order
        bulk = getattr(self.dataset, "__getitems__", None)
        for b in range(start, len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            idx = np.arange(lo, hi, dtype=np.int64) if order is None else order[lo:hi]
            self._pos = b + 1
            if bulk is not None:
                # contiguous ranges as slices: one strided copy instead of a gather
                yield tuple(bulk(slice(lo, hi) if order is None else idx))
            else:
                yield _collate([self.dataset[int(i)] for i in idx])

    def state_dict(self):
        """Where the loader is: permutations drawn, the current epoch's order and how many of
        its batches were handed out. A loader given this state continues exactly there: the
        rest of that epoch, then the same permutations an uninterrupted seeded loader draws."""
        return {"seed": self.seed, "epochs_drawn": self._epochs_drawn,
                "order": None if self._order is None else self._order.copy(),
                "position": self._pos}

    def load_state_dict(self, state):
        if state.get("seed") != self.seed:
            raise ValueError(f"DataLoader.load_state_dict: saved seed {state.get('seed')} != "
                             f"this loader's seed {self.seed}")
        order = state.get("order")
        if order is not None:
            order = np.asarray(order, dtype=np.int64)
            if order.shape != (self._count(),):
                raise ValueError(f"DataLoader.load_state_dict: saved order has shape "
                                 f"{order.shape}, the loader draws {self._count()} samples "
                                 "per epoch")
        k = int(state["epochs_drawn"])
        if self.seed is not None:  # replay the generator to the same point
            self._rng = np.random.default_rng(self.seed)
            for _ in range(k):
                self._rng.permutation(len(self.dataset))
        self._epochs_drawn, self._order = k, order
        self._pos, self._resume = int(state.get("position", 0)), True


class DistributedSampler:
    """Each rank's share of every epoch: the indices for ``DataLoader(..., sampler=s)``.

    Every rank draws the same permutation of ``range(len(dataset))`` (numpy generator seeded
    with ``seed + epoch``; identity order with ``shuffle=False``), pads it by repeating its
    first indices to a multiple of ``num_replicas`` (or, with ``drop_last=True``, cuts the
    tail), and keeps positions ``rank, rank + num_replicas, ...``: the ranks' shards are
    disjoint and together cover the epoch. Because the shards interleave, the ranks' b-th
    batches of size B together are exactly the b-th batch of size ``num_replicas * B`` of a
    single process reading the same permutation. Call ``set_epoch(e)`` before each epoch
    (``gc.train.fit`` does) or every epoch repeats epoch 0's order, as in torch.
    ``num_replicas`` / ``rank`` default to ``gc.distributed.world_size()`` / ``rank()``
    (1 / 0 when gc.distributed is not initialized).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        from . import distributed as _dist
        if num_replicas is None:
            num_replicas = _dist.world_size() if _dist.is_initialized() else 1
        if rank is None:
            rank = _dist.rank() if _dist.is_initialized() else 0
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, (int, np.integer)) \
                or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got "
                             f"{num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas - 1}], "
                             f"got {rank!r}")
        if not isinstance(seed, (int, np.integer)):
            raise TypeError(f"DistributedSampler: seed must be an int, got "
                            f"{type(seed).__name__}")
        self.dataset, self.num_replicas, self.rank = dataset, int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last, self.epoch = bool(shuffle), int(seed), \
            bool(drop_last), 0
        n = len(dataset)
        if self.drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """The epoch whose permutation the next ``iter`` yields (same on every rank)."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.num_samples

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            idx = np.arange(n, dtype=np.int64)
        if self.total_size > n:    # pad by wrapping around (n may be < num_replicas)
            idx = np.resize(idx, self.total_size)
        idx = idx[self.rank:self.total_size:self.num_replicas]
        return iter(idx.tolist())


def _collate(samples):
    """List of samples (tuples of arrays/tensors/numbers) -> tuple of stacked gc tensors."""
    first = samples[0]
    if not isinstance(first, (tuple, list)):
        return (_stack([s for s in samples]),)
    return tuple(_stack([s[j] for s in samples]) for j in range(len(first)))


def _stack(items):
    a = np.stack([np.asarray(x.detach() if isinstance(x, Tensor) else x) for x in items])
    if a.dtype.kind == "f" and a.dtype not in _dt.FLOATS:
        a = a.astype(np.float32)
    return as_tensor(np.ascontiguousarray(a))


# ---- datasets ------------------------------------------------------------------------------
def load_digits(images=False):
    """The 8x8 handwritten digits scikit-learn ships (1797 samples, no download).

    Returns ``(X_train, y_train, X_test, y_test)`` numpy arrays: X float32 = pixel / 16 in [0, 1],
    shape (N, 64), or (N, 1, 8, 8) with ``images=True``; y int64. The split is stratified and
    shuffled with a fixed seed, 20% test (1438 train / 359 test).
    """
    data = _read_digits()
    X = (data[:, :64] / 16.0).astype(np.float32)
    y = data[:, 64].astype(np.int64)
    tr, te = _stratified_split(y, test_frac=0.2, seed=0)
    if images:
        X = X.reshape(-1, 1, 8, 8)
    return (np.ascontiguousarray(X[tr]), y[tr].copy(), np.ascontiguousarray(X[te]), y[te].copy())


def _read_digits():
    """(1797, 65) float64: 64 pixels (0..16) and the label. Reads the CSV scikit-learn bundles
    straight from its package directory when it is there (``import sklearn`` alone costs ~0.6 s),
    else asks ``sklearn.datasets.load_digits``."""
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(loc, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            try:
                data = np.loadtxt(path, delimiter=",")
            except (OSError, ValueError):
                break
            if data.shape == (1797, 65):
                return data
            break
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise ImportError("gc.data.load_digits needs scikit-learn for its bundled digits data: "
                          "pip install gradcore[data]  (or: pip install scikit-learn)") from None
    d = sk_digits()
    return np.column_stack([np.asarray(d.data, np.float64), np.asarray(d.target, np.float64)])


def _stratified_split(y, test_frac, seed):
    """Per class, round(test_frac * count) samples go to test; both sides are shuffled. Our own
    numpy code (not sklearn's splitter) so the split never changes with the sklearn version."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_frac * len(idx)))
        te.append(idx[:k])
        tr.append(idx[k:])
    return rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))


def make_moons(n_samples=200, noise=0.1, seed=None):
    """Two interleaving half circles (as sklearn's make_moons, shuffled).
    Returns X float32 (n, 2), y int64 (n,) in {0, 1}."""
    n_samples = _check_n("make_moons", n_samples)
    rng = np.random.default_rng(seed)
    n0 = n_samples // 2
    n1 = n_samples - n0
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    if noise:
        X = X + rng.normal(0.0, noise, X.shape)
    p = rng.permutation(n_samples)
    return X[p].astype(np.float32), y[p]


def make_spirals(n_samples=300, n_classes=3, noise=0.2, seed=None):
    """``n_classes`` interleaved spiral arms (cs231n's toy set): radius r in [0, 1], angle
    4k .. 4(k+1) plus N(0, noise) jitter. Returns X float32 (n, 2), y int64 (n,), shuffled."""
    n_samples = _check_n("make_spirals", n_samples)
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"make_spirals: n_classes must be a positive int, got {n_classes!r}")
    rng = np.random.default_rng(seed)
    counts = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    Xs, ys = [], []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + rng.normal(0.0, noise, m)
        Xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(m, k, np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    p = rng.permutation(n_samples)
    return X[p].astype(np.float32), y[p]


def _check_n(op, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{op}: n_samples must be a positive int, got {n!r}")
    return int(n)
