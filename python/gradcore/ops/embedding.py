"""Embedding lookup: y = W[idx] (rows of a (num, dim) table)
Grad: dW = scatter-add of g's rows at idx (index_add0); the padding_idx row gets none."""
from .. import dtypes as _dt
from .. import dispatch as D
from ..dispatch import K
from ..engine import make
from ..registry import primitive
from ..tensor import Tensor, as_tensor
from .public import public

_embedding = primitive("embedding")


@public(function=False, functional=True)
def embedding(input, weight, padding_idx=None, max_norm=None):  # noqa: A002
    """Rows of ``weight`` (num, dim) picked by int64 indices: (*) -> (*, dim)."""
    if max_norm is not None:
        raise NotImplementedError("embedding: max_norm is not supported")
    idx = as_tensor(input)._data
    if idx.dtype != _dt.int64:
        raise TypeError(f"embedding: indices must be int64, got {idx.dtype}")
    w = weight if type(weight) is Tensor else as_tensor(weight)
    wd = w._data
    if wd.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got {wd.shape}")
    n = wd.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: index out of range: indices must be in [0, {n}), got "
                         f"values in [{idx.min()}, {idx.max()}]")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    y = D.run(K.index_select0, wd, idx, idx.shape + wd.shape[1:])
    return make(y, _embedding, (w,), (idx, wd.shape, padding_idx))


@_embedding.defvjp
def _(g, needs, idx, shape, padding_idx):
    dw = D.run(K.index_add0, g, idx, shape)
    if padding_idx is not None:
        D.run(K.fill, dw[padding_idx], 0.0)
    return (dw,)
