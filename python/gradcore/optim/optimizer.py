"""Optimizer base class: parameter groups, lazy per-parameter state, zero_grad, state dicts
(torch.optim's format), and the fused-call helper every optimizer's functional form uses."""
import numpy as np

from .. import dtypes as _dt
from .. import profiler as _profiler
from .. import dispatch as D
from .. import versions as _versions
from ..tensor import Tensor, tensor, zeros, zeros_like

# run_variadic in csrc/bind/module.cpp takes at most this many tensors per call.
_MAX_TENSORS = 4096


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _arr(x):
    """The numpy array behind a gc tensor (or the array itself) for a kernel call."""
    return x._data if isinstance(x, Tensor) else x


def _hyper_array(values):
    """A (n,) float64 array holding ``values`` (a group's hyperparameters)."""
    h = D.empty((len(values),), _dt.CODE[_dt.float64])
    h[:] = values
    return h


class ParamGroup(dict):
    """A parameter group: a dict, as torch's, whose numeric options also live in ``hyper``, a
    float64 array the fused kernels read when they run (not attributes baked into the call).
    Setting ``group['lr']`` (as schedulers do) writes it through, so a recorded step replays
    with the values of the moment. ``layout`` names the options in kernel order:
    ``(key, None)`` for a number, ``(key, i)`` for element i of a tuple (``betas``)."""

    def __init__(self, d, layout):
        super().__init__(d)
        self.layout = layout
        self.hyper = _hyper_array([0.0] * len(layout)) if layout else None
        self._sync()

    def _sync(self):
        for i, (key, j) in enumerate(self.layout):
            v = self.get(key)
            if v is not None:
                self.hyper[i] = float(v if j is None else v[j])

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if any(key == k for k, _ in self.layout):
            self._sync()

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self._sync()

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def __reduce__(self):
        return dict, (dict(self),)


def _fused(kernel, hyper, tuples, attrs, fresh=None):
    """Run the variadic in-place ``kernel`` over every tuple of tensors in ONE call.

    ``hyper``: the group's hyperparameter array (or a tuple of numbers, made into one);
    ``tuples``: one sequence of tensors per parameter; ``attrs``: the kernel's structural
    flags (amsgrad, nesterov, ...).
    ``fresh`` (SGD): one bool per tuple; fresh tuples go first and their count is appended to
    ``attrs``. More than one call happens only when the tuples mix dtypes (the kernel takes one
    dtype) or exceed the binding's limit of _MAX_TENSORS tensors.
    """
    if not tuples:
        return
    if not hasattr(hyper, "__array_interface__"):
        hyper = _hyper_array(hyper)
    by_dtype = {}
    for i, tup in enumerate(tuples):
        by_dtype.setdefault(_arr(tup[0]).dtype, []).append(i)
    per_call = max(1, _MAX_TENSORS // len(tuples[0]))
    for idx in by_dtype.values():
        if fresh is not None:
            idx = sorted(idx, key=lambda i: not fresh[i])  # stable: fresh first
        for c in range(0, len(idx), per_call):
            chunk = idx[c:c + per_call]
            arrays = [_arr(x) for i in chunk for x in tuples[i]]
            extra = (sum(1 for i in chunk if fresh[i]),) if fresh is not None else ()
            D.run(kernel, hyper, *arrays, *attrs, *extra)


def _step_tensor(value=0.0):
    """A per-parameter step count: a 0-d float64 tensor the fused kernels increment."""
    t = zeros((), dtype=_dt.float64)
    if value:
        t.fill_(value)
    return t


def _check(ok, msg):
    if not ok:
        raise ValueError(msg)


_OPTION_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def _check_options(g, *nonnegative):
    """torch's checks of a group's options: each named one >= 0 ("Invalid learning rate: -1",
    "Invalid momentum value: -1", ...), and maximize off (not supported)."""
    for k in nonnegative:
        _check(g[k] >= 0.0, f"Invalid {_OPTION_LABELS.get(k, k + ' value')}: {g[k]}")
    _check(not g.get("maximize", False), "maximize=True is not supported")


def _columns(states, *names):
    """One list per state name: that entry of every state dict (None where it is missing)."""
    return [[s.get(n) for s in states] for n in names]


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts: 'params' plus options) and ``state``
    (dict: parameter -> dict of its state), as torch.optim.Optimizer.

    Subclasses set ``defaults``, validate options in ``_validate(group)`` and name in
    ``_shaped_state`` the state keys that hold one value per element of their parameter
    (checked on ``load_state_dict``). The fused optimizers keep the shared ``step`` and state
    only what differs: ``_state_names(group)`` (the state a step needs, created lazily by
    ``_new_state``, as torch) and ``_update(group, params, states)`` (the fused kernel call).
    """

    _shaped_state = ()
    _hyper_layout = ()   # the options a fused kernel reads from ParamGroup.hyper, in order

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def _validate(self, group):
        """Raise ValueError for a bad option value (subclasses)."""

    def add_param_group(self, param_group):
        """Add a group of parameters with its own options (missing ones come from defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets changes between runs")
        elif params is None:
            raise ValueError("param_group has no 'params' entry")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if p.dtype not in _dt.FLOATS:
                raise TypeError(f"optimizer can only optimize float32/float64 tensors, got {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = ParamGroup(param_group, self._hyper_layout)
        group["params"] = params
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {k}")
            group.setdefault(k, v)
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's gradient (``set_to_none``) or zero it in place."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._closure_loss(closure)
        with _profiler.label(f"optim.{type(self).__name__}.step"):
            for g in self.param_groups:
                params = [p for p in g["params"] if p.grad is not None]
                self._update(g, params, [self._init_state(p, g) for p in params])
                # the parameters changed in place: a graph made before this step that saved
                # one of them must not backpropagate through the new values (torch's _version)
                _versions.bump_many([p._data for p in params], f"{type(self).__name__}.step")
        return loss

    def _update(self, group, params, states):
        """Update ``params`` (those of ``group`` with a gradient; ``states`` their state dicts)
        in place (subclasses)."""
        raise NotImplementedError

    def _state_names(self, group):
        """Names of the per-parameter state a step needs under ``group``'s options."""
        return ()

    def _new_state(self, name, p, group):
        """Initial value of state ``name`` of ``p``: a step count of 0, else zeros like ``p``."""
        return _step_tensor() if name == "step" else zeros_like(p)

    def _init_state(self, p, group):
        """``p``'s state dict with every missing entry of ``_state_names(group)`` created."""
        names = self._state_names(group)
        if not names:  # no state to create: don't add an empty entry (torch's SGD)
            return self.state.get(p, {})
        s = self.state.setdefault(p, {})
        for name in names:
            if name not in s:
                s[name] = self._new_state(name, p, group)
        return s

    def _closure_loss(self, closure):
        if closure is None:
            return None
        from ..autograd import enable_grad
        with enable_grad():
            return closure()

    # ---- state dicts (torch's format) ------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``.

        Parameters are numbered in group order. As torch, the state values are the live state
        tensors (copy them to snapshot while training goes on); ``load_state_dict`` copies.
        """
        index, groups = {}, []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a dict made by ``state_dict`` (gc tensors, numpy arrays or numbers; a torch
        optimizer's state dict converted with ``.numpy()`` works too). Validates group counts,
        group sizes and state shapes before changing anything."""
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with keys 'state' and "
                             "'param_groups'")
        saved = list(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups: "
                             f"{len(saved)} saved, {len(self.param_groups)} in the optimizer")
        by_index = {}
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't "
                                 f"match the size of optimizer's group: group {i} has "
                                 f"{len(s['params'])} saved parameters, the optimizer has "
                                 f"{len(g['params'])}")
            for idx, p in zip(s["params"], g["params"]):
                by_index[int(idx)] = p
        state = {}
        for k, entries in state_dict["state"].items():
            try:
                idx = int(k)
            except (TypeError, ValueError):
                raise ValueError(f"load_state_dict: state key {k!r} is not a parameter index") from None
            if idx not in by_index:
                raise ValueError(f"load_state_dict: state for parameter {idx}, which is in no "
                                 "parameter group")
            p = by_index[idx]
            state[p] = {key: self._load_value(p, idx, key, v) for key, v in entries.items()}
        new_groups = []
        for g, s in zip(self.param_groups, saved):
            ng = dict(g)
            ng.update({k: (tuple(v) if k == "betas" else v) for k, v in s.items() if k != "params"})
            ng["params"] = g["params"]
            if ng.get("maximize", False):
                raise ValueError("load_state_dict: maximize=True is not supported")
            self._validate(ng)
            new_groups.append(ng)
        for g, ng in zip(self.param_groups, new_groups):  # in place: schedulers hold the dicts
            g.clear()
            g.update(ng)
        self.state = state

    def _load_value(self, p, idx, key, v):
        """A copy of one saved state value as gc tensors: 'step' as a 0-d float64 tensor,
        float arrays in the parameter's dtype, shapes of per-element state checked."""
        if isinstance(v, (list, tuple)):
            return type(v)(self._load_value(p, idx, key, x) for x in v)
        if not isinstance(v, (Tensor, np.ndarray, np.generic)):
            if key == "step" and isinstance(v, (int, float)):
                return _step_tensor(float(v))
            return v
        a = np.asarray(v._data if isinstance(v, Tensor) else v)
        if key == "step":
            _check(a.size == 1, f"load_state_dict: 'step' of parameter {idx} must have one "
                                f"element, got shape {a.shape}")
            return _step_tensor(float(a.reshape(())))
        if key in self._shaped_state:
            _check(a.shape == p.shape, f"load_state_dict: state '{key}' of parameter {idx} has "
                                       f"shape {a.shape} but the parameter has shape {p.shape}")
        if a.dtype.kind == "f":
            return tensor(a, dtype=p.dtype)
        return tensor(a)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, d):
        self.__dict__.update(d)
