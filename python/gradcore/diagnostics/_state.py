"""Save and restore what a diagnostic run disturbs: parameters, buffers, gradients, optimizer
state and hyperparameters, the generator and a DataLoader's shuffling generator, train mode.
Restoration writes into the same arrays (bit-identical values, same objects)."""
import copy

import numpy as np

from .. import dispatch as D
from ..tensor import Tensor


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
