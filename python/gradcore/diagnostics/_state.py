"""Save and restore what a diagnostic run disturbs: parameters, buffers, gradients, optimizer
state and hyperparameters, the generator and a DataLoader's shuffling generator, train mode.
Restoration writes into the same arrays (bit-identical values, same objects). Also the small
helpers the landscape, curvature and attribution functions share: eval mode for a block,
batch elements as tensors, vectors over the parameters."""
import contextlib
import copy

import numpy as np

from .. import dispatch as D
from ..tensor import Tensor, as_tensor


class Snapshot:
    def __init__(self, model, optimizer=None, loader=None):
        self.model, self.optimizer, self.loader = model, optimizer, loader
        self.tensors = [(t, t._data.copy()) for _, t in model.named_parameters()]
        self.tensors += [(t, t._data.copy()) for _, t in model.named_buffers()
                         if isinstance(t, Tensor)]
        self.grads = [(p, p.grad, None if p.grad is None else p.grad._data.copy())
                      for p in model.parameters()]
        self.training = [(m, m.training) for m in model.modules()]
        self.rng = D.get_rng_state()
        lrng = getattr(loader, "_rng", None)
        self.loader_rng = copy.deepcopy(lrng.bit_generator.state) if lrng is not None else None
        if optimizer is not None:
            self.groups = [{k: v for k, v in g.items() if k != "params"}
                           for g in optimizer.param_groups]
            self.state = {p: {k: (v, v._data.copy()) if isinstance(v, Tensor) else (v, None)
                              for k, v in s.items()} for p, s in optimizer.state.items()}

    def restore(self):
        for t, a in self.tensors:
            np.copyto(t._data, a)
        for p, g, a in self.grads:
            p.grad = g
            if g is not None:
                np.copyto(g._data, a)
        for m, mode in self.training:
            m.training = mode
        D.set_rng_state(self.rng)
        if self.loader_rng is not None:
            self.loader._rng.bit_generator.state = self.loader_rng
        opt = self.optimizer
        if opt is None:
            return
        for g, saved in zip(opt.param_groups, self.groups):
            for k in [k for k in g if k != "params" and k not in saved]:
                del g[k]
            for k, v in saved.items():
                g[k] = v      # ParamGroup writes lr/betas/... through to its hyper array
        for p in list(opt.state):
            if p not in self.state:
                del opt.state[p]
        for p, saved in self.state.items():
            s = opt.state.setdefault(p, {})
            for k in [k for k in s if k not in saved]:
                del s[k]
            for k, (v, a) in saved.items():
                if a is not None:
                    np.copyto(v._data, a)
                s[k] = v


@contextlib.contextmanager
def eval_mode(model):
    """``model.eval()`` for the block; every module's own flag comes back afterwards, also
    when the block raises."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def model_dtype(model):
    """The dtype of the model's first floating parameter (float32 when it has none)."""
    for p in model.parameters():
        if p._data.dtype.kind == "f":
            return p.dtype
    from ..dtypes import float32
    return float32


def as_input(a, dtype):
    """A batch element as a Tensor: Tensors pass through as they are; numpy arrays and lists
    become tensors, floating ones in ``dtype`` (the model's), integer ones (targets) kept."""
    if isinstance(a, Tensor):
        return a
    arr = np.asarray(a)
    if arr.dtype.kind in "iu":
        return as_tensor(arr.astype(np.int64, copy=False))
    return as_tensor(arr, dtype=dtype if arr.dtype.kind == "f" else None)


def split_batch(batch, fname):
    """``(*inputs, target)`` of a batch given as a tuple or list of at least two elements."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"{fname}: batch must be a tuple (x, y) (or (*inputs, y)), got "
                        f"{type(batch).__name__}")
    return tuple(batch[:-1]), batch[-1]


def per_parameter(vector, shapes, fname, arg="vector"):
    """(list of float64 arrays, one per parameter shape, was_flat) from a flat array over the
    parameters in order or a list of arrays per parameter."""
    sizes = [int(np.prod(s)) for s in shapes]
    if isinstance(vector, (list, tuple)):
        if len(vector) != len(shapes):
            raise ValueError(f"{fname}: {arg} has {len(vector)} arrays for {len(shapes)} "
                             "parameters")
        out = []
        for i, (v, s) in enumerate(zip(vector, shapes)):
            v = np.asarray(v.numpy() if isinstance(v, Tensor) else v, dtype=np.float64)
            if v.shape != tuple(s):
                raise ValueError(f"{fname}: {arg}[{i}] has shape {v.shape}, parameter {i} "
                                 f"has shape {tuple(s)}")
            out.append(v)
        return out, False
    flat = np.asarray(vector.numpy() if isinstance(vector, Tensor) else vector, np.float64)
    if flat.ndim != 1 or flat.size != sum(sizes):
        raise ValueError(f"{fname}: {arg} must be a flat array of {sum(sizes)} elements (one "
                         f"per parameter element, in model.parameters() order) or a list of "
                         f"arrays per parameter, got shape {flat.shape}")
    cuts = np.cumsum(sizes)[:-1]
    return [c.reshape(s) for c, s in zip(np.split(flat, cuts), shapes)], True
