"""Module and Parameter, with torch's registration rules, traversal order and state-dict keys.

Parameters, buffers and submodules live in three ordered dicts filled by ``__setattr__``;
``named_parameters`` walks modules pre-order (each module's own parameters, then its children
in registration order), which gives torch's dotted names and order.
"""
import collections
import itertools

import numpy as np

from .. import dtypes as _dt
from ..ops.elementwise import cast
from ..tensor import Tensor, as_tensor
from .parameter import Parameter


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``remove()`` (or leaving a ``with`` block) unhooks."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self.hooks_dict = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self.hooks_dict.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_DTYPE_NAMES = ("float32", "float64", "float", "double", "int64", "bool")
class _IncompatibleKeys(collections.namedtuple("IncompatibleKeys",
                                               ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


def _check_name(kind, self, name, own):
    """torch's rules: a string without dots, not already an attribute other than an entry
    of the same kind (``own``: registering a buffer under a parameter's name is an error)."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{kind} name can't contain \".\" and can't be empty, got {name!r}")
    if hasattr(self, name) and name not in own:
        raise KeyError(f"attribute '{name}' already exists")


class Module:
    """Base class of all layers: subclasses set Parameters and Modules as attributes in
    ``__init__`` and define ``forward``.

    >>> class Net(gc.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = gc.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    >>> [name for name, _ in Net().named_parameters()]
    ['fc.weight', 'fc.bias']
    """

    def __init_subclass__(cls, **kwargs):
        """gradcore's layers take torch's ``device=`` keyword: the CPU is accepted, any other
        device raises (one wrapper here instead of a parameter in every layer)."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or not cls.__module__.startswith("gradcore."):
            return
        code = init.__code__
        if "device" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
            return

        def __init__(self, *args, device=None, **kw):
            if device is not None:
                from ..device import check
                check(device, cls.__name__)
            init(self, *args, **kw)
        __init__.__doc__, __init__.__wrapped__ = init.__doc__, init
        __init__.__qualname__ = init.__qualname__
        cls.__init__ = __init__

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = collections.OrderedDict()
        d["_buffers"] = collections.OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = collections.OrderedDict()
        d["_forward_hooks"] = collections.OrderedDict()
        d["_forward_pre_hooks"] = collections.OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        if _global_pre_hooks or _global_hooks:
            return self._call_with_global_hooks(args, kwargs)
        return self._call_local(args, kwargs)

    def _call_local(self, args, kwargs):
        """forward between this module's own pre- and post-forward hooks."""
        d = self.__dict__
        if d["_forward_pre_hooks"]:
            for hook in list(d["_forward_pre_hooks"].values()):
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        if d["_forward_hooks"]:
            for hook in list(d["_forward_hooks"].values()):
                res = hook(self, args, out)
                if res is not None:
                    out = res
        return out

    def _call_with_global_hooks(self, args, kwargs):
        """``__call__`` while global module hooks are registered (profiler, monitors)."""
        for hook in list(_global_pre_hooks.values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out, ok = None, False
        try:
            out = self._call_local(args, kwargs)
            ok = True
        finally:
            for hook, always in list(_global_hooks.values()):
                if ok or always:
                    res = hook(self, args, out)
                    if ok and res is not None:
                        out = res
        return out

    # ---- registration -------------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            for k in ("_buffers", "_modules"):
                d[k].pop(name, None)
            d.pop(name, None)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(gradcore.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            for k in ("_parameters", "_buffers"):
                d[k].pop(name, None)
            d.pop(name, None)
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (gradcore.nn.Module or None expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, (Tensor, np.ndarray)):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(gradcore.Tensor or None expected)")
            d["_buffers"][name] = None if value is None else as_tensor(value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails
        d = self.__dict__
        for k in ("_parameters", "_buffers", "_modules"):
            if k in d and name in d[k]:
                return d[k][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for k in ("_parameters", "_buffers", "_modules"):
            if name in d.get(k, ()):
                del d[k][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", self, name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (gradcore.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that is state but not a parameter (e.g. running statistics); saved in
        ``state_dict`` unless ``persistent=False``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", self, name, self._buffers)
        if tensor is not None and not isinstance(tensor, (Tensor, np.ndarray)):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(gradcore.Tensor or None required)")
        self._buffers[name] = None if tensor is None else as_tensor(tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", self, name, self._modules)
        self._modules[name] = module

    register_module = add_module

    def register_forward_hook(self, hook, prepend=False):
        """``hook(module, args, output)`` runs after ``forward``; a non-None result replaces
        the output. Returns a handle whose ``remove()`` unregisters the hook."""
        return self._add_hook(self._forward_hooks, hook, prepend)

    def register_forward_pre_hook(self, hook, prepend=False):
        """``hook(module, args)`` runs before ``forward``; a non-None result replaces args."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend)

    @staticmethod
    def _add_hook(hooks, hook, prepend):
        h = RemovableHandle(hooks)
        hooks[h.id] = hook
        if prepend:
            hooks.move_to_end(h.id, last=False)
        return h

    # ---- traversal ----------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                           remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for k, v in getattr(m, attr).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs in torch's order; shared parameters appear once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        m = self
        for item in target.split(".") if target else ():
            if item not in m._modules or m._modules[item] is None:
                raise AttributeError(f"{m._get_name()} has no attribute `{item}`")
            m = m._modules[item]
        return m

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients --------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's ``.grad`` (or zero it in place with ``set_to_none=False``)."""
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    # ---- state dict -----------------------------------------------------------------------
    def _state_items(self, prefix=""):
        """(key, tensor) for every parameter and persistent buffer, torch's key order; a
        module reached twice is listed under both names (as torch)."""
        for k, p in self._parameters.items():
            if p is not None:
                yield prefix + k, p
        for k, b in self._buffers.items():
            if b is not None and k not in self._non_persistent_buffers_set:
                yield prefix + k, b
        for k, m in self._modules.items():
            if m is not None:
                yield from m._state_items(prefix + k + ".")

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """OrderedDict of name -> tensor (detached, sharing storage) for parameters and
        persistent buffers; keys and shapes as the equivalent torch module."""
        out = collections.OrderedDict() if destination is None else destination
        for k, t in self._state_items(prefix):
            out[k] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy tensors or numpy arrays into the existing parameters and buffers. Every
        missing, unexpected (when ``strict``) and mis-shaped key is reported in one
        RuntimeError, and then nothing is copied."""
        own = collections.OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, pairs = [], []
        for k, dst in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            src = v if isinstance(v, Tensor) else as_tensor(np.asarray(v))
            if tuple(src.shape) != tuple(dst.shape):
                errors.append(f"size mismatch for {k}: copying a param with shape "
                              f"{tuple(src.shape)} from checkpoint, the shape in current model "
                              f"is {tuple(dst.shape)}.")
            else:
                pairs.append((dst, src))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t"
                               + "\n\t".join(errors))
        from ..autograd import no_grad
        with no_grad():
            for dst, src in pairs:
                dst.copy_(src.detach())
        return _IncompatibleKeys(missing, unexpected)

    # ---- dtype ----------------------------------------------------------------------------
    def to(self, *args, dtype=None, **kwargs):
        """``to(dtype)``: convert floating parameters, their grads and floating buffers in
        place (Parameter objects keep their identity). Devices other than 'cpu' raise."""
        from ..device import check, is_device_spec
        if kwargs.get("device") is not None:
            check(kwargs["device"], "to")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
                continue
            if is_device_spec(a) and not (isinstance(a, str) and a in _DTYPE_NAMES):
                check(a, "to")
                continue
            dtype = a
        if dtype is None:
            return self
        d = _dt.canonical(dtype)
        if d not in _dt.FLOATS:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got "
                            f"desired dtype={d}")

        def convert(t):
            if t is not None and t._data.dtype in _dt.FLOATS and t._data.dtype != d:
                t._data = cast(t.detach(), d)._data

        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    convert(p)
                    convert(p.grad)
            for b in m._buffers.values():
                convert(b)
        return self

    def double(self):
        return self.to(_dt.float64)

    def float(self):
        return self.to(_dt.float32)

    def cpu(self):
        return self

    # ---- printing -------------------------------------------------------------------------
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"


# ---- global module hooks (torch.nn.modules.module.register_module_forward_*hook) ----------
_global_pre_hooks = {}
_global_hooks = {}


class _GlobalHandle:
    _next = 0

    def __init__(self, table, value):
        _GlobalHandle._next += 1
        self.id, self.table = _GlobalHandle._next, table
        table[self.id] = value

    def remove(self):
        self.table.pop(self.id, None)


def register_module_forward_pre_hook(hook):
    """``hook(module, args)`` before every module's forward (may return new args)."""
    return _GlobalHandle(_global_pre_hooks, hook)


def register_module_forward_hook(hook, always_call=False):
    """``hook(module, args, output)`` after every module's forward (may return a new output);
    with ``always_call`` it also runs (output None) when the forward raised."""
    return _GlobalHandle(_global_hooks, (hook, always_call))
