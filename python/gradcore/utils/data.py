"""``gradcore.utils.data``, as ``torch.utils.data``: Dataset, TensorDataset, DataLoader,
random_split, Subset, ConcatDataset, default_collate.

Map-style datasets (``__getitem__`` + ``__len__``) are read sample by sample and collated as
torch's ``default_collate`` does (tensors and numbers stacked, tuples/lists per position,
dicts per key); datasets with ``__getitems__`` (TensorDataset, a Subset of one) are sliced
in bulk, one gather per tensor. ``num_workers``, ``pin_memory``, ``persistent_workers``,
``prefetch_factor``, ``timeout`` and ``worker_init_fn`` are accepted and ignored: batches are
made in the calling process (gradcore's kernels are already multi-threaded).
"""
import math

import numpy as np

from .. import data as _gcdata
from .. import dtypes as _dt
from ..tensor import Tensor, as_tensor, randperm

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "DataLoader", "random_split",
           "Subset", "ConcatDataset", "default_collate", "Sampler", "SequentialSampler",
           "RandomSampler", "BatchSampler", "get_worker_info"]


class Dataset:
    """Base class of map-style datasets: define ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError("Dataset subclasses must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    def __iter__(self):
        raise NotImplementedError("IterableDataset subclasses must define __iter__")


class TensorDataset(_gcdata.TensorDataset, Dataset):
    pass


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(int(i) for i in indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        if isinstance(i, (list, np.ndarray, Tensor)):
            return [self.dataset[self.indices[int(k)]] for k in np.asarray(i).reshape(-1)]
        return self.dataset[self.indices[i]]

    def __getattr__(self, name):
        if name == "__getitems__":
            inner = getattr(self.dataset, "__getitems__", None)
            if inner is None:
                raise AttributeError(name)
            idx = np.asarray(self.indices, dtype=np.int64)

            def bulk(sel):
                return inner(np.ascontiguousarray(idx[sel]))
            return bulk
        raise AttributeError(name)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, i):
        if i < 0:
            i += len(self)
        k = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        lo = 0 if k == 0 else int(self.cumulative_sizes[k - 1])
        return self.datasets[k][i - lo]


def random_split(dataset, lengths, generator=None):
    """Disjoint random Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0) \
            and sum(lengths) <= 1 + 1e-9:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("random_split: sum of input lengths does not equal the length of the "
                         f"input dataset ({sum(lengths)} vs {n})")
    perm = randperm(n).numpy()
    out, lo = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[lo:lo + k].tolist()))
        lo += k
    return out


def _stack(items):
    first = items[0]
    if isinstance(first, Tensor):
        from ..ops.shape import stack
        return stack([t.detach() for t in items])
    a = np.stack([np.asarray(x) for x in items])
    if a.dtype.kind == "f" and a.dtype not in _dt.FLOATS:
        a = a.astype(np.float32)
    if isinstance(first, float):
        a = a.astype(np.float64)  # torch collates Python floats as float64
    return as_tensor(np.ascontiguousarray(a))


def default_collate(batch):
    """torch's default_collate: stack tensors / arrays / numbers, recurse into tuples, lists
    and dicts (strings are kept as lists)."""
    first = batch[0]
    if isinstance(first, (Tensor, np.ndarray, int, float, np.number, bool)):
        return _stack(batch)
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, (tuple, list)):
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(first).__name__}")


class Sampler:
    def __init__(self, data_source=None):
        pass


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.n = len(data_source)

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


class RandomSampler(Sampler):
    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.n = len(data_source)
        self.num_samples = num_samples or self.n

    def __iter__(self):
        return iter(randperm(self.n).numpy()[:self.num_samples].tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    def __init__(self, sampler, batch_size, drop_last):
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        b = []
        for i in self.sampler:
            b.append(i)
            if len(b) == self.batch_size:
                yield b
                b = []
        if b and not self.drop_last:
            yield b

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def get_worker_info():
    return None


class DataLoader(_gcdata.DataLoader):
    """torch.utils.data.DataLoader's signature over gradcore's loader (see module doc)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True, seed=None):
        if batch_sampler is not None:
            raise NotImplementedError("DataLoader: batch_sampler= is not supported; use "
                                      "batch_size= with shuffle= or sampler=")
        if isinstance(dataset, IterableDataset):
            raise NotImplementedError("DataLoader: IterableDataset is not supported; iterate it "
                                      "directly")
        super().__init__(dataset, batch_size=batch_size, shuffle=bool(shuffle),
                         drop_last=drop_last, seed=seed, sampler=sampler)
        self.collate_fn = collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def __iter__(self):
        ds = self.dataset
        if self.collate_fn is None and hasattr(ds, "__getitems__"):
            for b in super().__iter__():
                yield list(b)  # torch yields a list for TensorDataset batches
            return
        collate = self.collate_fn or default_collate
        n = self._count()
        self._order = self._draw(n)
        order = self._order
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            idx = range(lo, hi) if order is None else order[lo:hi]
            self._pos = b + 1
            yield collate([ds[int(i)] for i in idx])
