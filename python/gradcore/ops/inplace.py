"""In-place ops, as torch's: ``x.add_(y)``, ``x += y``, ``x[idx] = v``, ``fill_``, ``exp_``, ...

The result is written into the tensor's own storage (every alias sees it) and the storage's
version counter is bumped (``versions.bump``), so a backward pass that needs a value an in-place
op overwrote raises instead of computing a wrong gradient.

Autograd: in-place on a leaf that requires grad raises while grad mode is on (wrap optimizer
updates in ``gc.no_grad()``). On a tensor inside a graph, or when an argument requires grad,
the op is recorded: the tensor's old value is snapshotted (a copy that keeps its place in the
graph), the out-of-place op runs on it, its result is copied into the storage and the tensor
takes the new node. Without a graph the kernels write straight into the storage.
"""
import numpy as np

from .public import public
from .. import dtypes as _dt
from ..engine import grad_mode, make
from ..versions import bump
from .. import dispatch as D
from ..generator import state_of
from ..dispatch import K
from ..registry import primitive
from ..tensor import Tensor, _empty, _wrap, as_tensor
from . import public as _public_mod
from .elementwise import _SCALARS, broadcast_shape, cast, mul
from .shape import expand

_FLOATS = _dt.FLOATS


def check_leaf(op, x):
    if grad_mode.enabled and x.requires_grad and x._node is None:
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation. "
            "Update parameters inside `with gc.no_grad():` (as in torch: "
            "`with torch.no_grad(): p -= lr * p.grad`), or through `p.data`.")


def _needs_graph(x, args):
    if not grad_mode.enabled:
        return False
    if x.requires_grad:
        return True
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
    return False


def _snapshot(x):
    """x's current value in a new buffer, at x's place in the graph."""
    t = Tensor.__new__(Tensor)
    t._data = D.run(K.expand, x._data, x._data.shape)
    t.grad = None
    t._node = x._node
    t.requires_grad = x.requires_grad
    return t


def _fit(op, x, r):
    """r (a Tensor) broadcast to x's shape and cast to x's dtype, as torch's in-place rules."""
    xd = x._data
    if r._data.dtype != xd.dtype:
        if r._data.dtype in _FLOATS and xd.dtype not in _FLOATS:
            raise TypeError(f"{op}: result type {_dt_name(r._data.dtype)} can't be cast to the "
                            f"desired output type {_dt_name(xd.dtype)}; convert the tensor "
                            "first (x = x.float()) or use the out-of-place op")
        r = cast(r, xd.dtype)
    if r._data.shape != xd.shape:
        if broadcast_shape(op, xd.shape, r._data.shape) != xd.shape:
            raise ValueError(f"{op}: output with shape {xd.shape} doesn't match the broadcast "
                             f"shape {broadcast_shape(op, xd.shape, r._data.shape)}")
        r = expand(r, xd.shape)
    return r


def _dt_name(d):
    return {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool"}[str(d)]


def write(x, r, op):
    """Store the out-of-place result ``r`` into ``x``'s storage; x takes r's graph position."""
    r = _fit(op, x, r)
    D.run(K.expand, r._data, x._data)
    bump(x._data, op)
    if r.requires_grad:
        x._node = r._node
        x.requires_grad = True
    return x


def from_outofplace(op, fn):
    """x.op_(*args) from the out-of-place fn(x, *args)."""
    def method(self, *args, **kwargs):
        check_leaf(op, self)
        if _needs_graph(self, args + tuple(kwargs.values())):
            return write(self, fn(_snapshot(self), *args, **kwargs), op)
        return write(self, fn(self, *args, **kwargs), op)
    method.__name__ = op
    return method


# ---- arithmetic with kernels writing straight into the storage when no graph is recorded ----
def _binary_inplace(op, kid, alpha_beta, outofplace):
    def method(self, other, alpha=None):
        check_leaf(op, self)
        if alpha is not None and alpha != 1:
            other = mul(other, alpha)
        xd = self._data
        if xd.dtype in _FLOATS and not _needs_graph(self, (other,)):
            if isinstance(other, _SCALARS) and not isinstance(other, (bool, np.bool_)):
                a, b = alpha_beta(float(other))
                if a == a:  # div_ by 0 goes through the general path (inf/nan as torch)
                    D.run(K.affine, xd, xd, alpha=a, beta=b)
                    bump(xd, op)
                    return self
            elif isinstance(other, (Tensor, np.ndarray)):
                od = as_tensor(other)._data
                if od.dtype in _FLOATS or od.dtype == _dt.int64 or od.dtype == _dt.bool_:
                    if od.dtype != xd.dtype:
                        od = D.run(K.cast, od, _empty(od.shape, xd.dtype))
                    if broadcast_shape(op, xd.shape, od.shape) != xd.shape:
                        raise ValueError(f"{op}: output with shape {xd.shape} doesn't match the "
                                         f"broadcast shape "
                                         f"{broadcast_shape(op, xd.shape, od.shape)}")
                    D.run(kid, xd, od, xd)
                    bump(xd, op)
                    return self
        if xd.dtype not in _FLOATS and (
                isinstance(other, (float, np.floating)) or isinstance(other, Tensor)
                and other._data.dtype in _FLOATS or op == "div_"):
            raise TypeError(f"{op}: result type Float can't be cast to the desired output type "
                            f"{_dt_name(xd.dtype)} (in-place ops keep the tensor's dtype); "
                            "convert first (x = x.float()) or use the out-of-place op")
        if _needs_graph(self, (other,)):
            return write(self, outofplace(_snapshot(self), other), op)
        return write(self, outofplace(self, other), op)
    method.__name__ = op
    return method


def _ops():
    from . import elementwise as E
    return E


def _div_ab(c):
    return (1.0 / c, 0.0) if c != 0 else (float("nan"), 0.0)


add_ = _binary_inplace("add_", K.add, lambda c: (1.0, c), lambda a, b: _ops().add(a, b))
sub_ = _binary_inplace("sub_", K.sub, lambda c: (1.0, -c), lambda a, b: _ops().sub(a, b))
mul_ = _binary_inplace("mul_", K.mul, lambda c: (c, 0.0), lambda a, b: _ops().mul(a, b))
_div_plain = _binary_inplace("div_", K.div, _div_ab, lambda a, b: _ops().div(a, b))


def div_(self, other, rounding_mode=None):
    if rounding_mode is None:
        return _div_plain(self, other)
    from .integer import div as _div_rm
    return from_outofplace("div_", lambda x, o: _div_rm(x, o, rounding_mode=rounding_mode))(
        self, other)


public(add_, function=False, method=["add_", "__iadd__"])
public(sub_, function=False, method=["sub_", "subtract_", "__isub__"])
public(mul_, function=False, method=["mul_", "multiply_", "__imul__"])
public(div_, function=False, method=["div_", "divide_", "true_divide_", "__itruediv__"])


def clamp_(self, min=None, max=None):  # noqa: A002
    check_leaf("clamp_", self)
    xd = self._data
    if (xd.dtype in _FLOATS and not isinstance(min, Tensor) and not isinstance(max, Tensor)
            and not _needs_graph(self, ())):
        inf = float("inf")  # a missing bound is +-inf (a NaN bound gives NaN, as torch)
        D.run(K.clamp, xd, xd, min=-inf if min is None else float(min),
              max=inf if max is None else float(max))
        bump(xd, "clamp_")
        return self
    from .activation import clamp
    return from_outofplace("clamp_", lambda x: clamp(x, min, max))(self)


public(clamp_, function=False, method=["clamp_", "clip_"])
public(lambda self, m: clamp_(self, min=m), function=False, method=["clamp_min_"])
public(lambda self, m: clamp_(self, max=m), function=False, method=["clamp_max_"])


def addcmul_(self, t1, t2, value=1):
    return add_(self, mul(t1, t2), alpha=value)


def addcdiv_(self, t1, t2, value=1):
    return add_(self, _ops().div(t1, t2), alpha=value)


public(addcmul_, function=False, method=True)
public(addcdiv_, function=False, method=True)


public(from_outofplace("lerp_", lambda x, end, w: _ops().add(x, mul(_ops().sub(end, x), w))),
       function=False, method=["lerp_"])


# ---- fills: the old value gets no gradient ---------------------------------------------------
_overwrite = primitive("overwrite")
_overwrite.defvjp(lambda g, needs: (None,))


def _fill_with(op, self, fill):
    check_leaf(op, self)
    fill(self._data)
    bump(self._data, op)
    if self.requires_grad and grad_mode.enabled:  # a non-leaf: cut the old graph off
        t = make(self._data, _overwrite, (self,), ())
        self._node = t._node
    return self


def zero_(self):
    return _fill_with("zero_", self, lambda d: D.run(K.fill, d, 0.0))


def fill_(self, value):
    if isinstance(value, Tensor):
        value = value.item()
    return _fill_with("fill_", self, lambda d: D.run(K.fill, d, float(value)))


def uniform_(self, from_=0.0, to=1.0, generator=None):
    """Fill in place with U(from_, to) from ``generator`` (default: the global one)."""
    _float_only("uniform_", self)
    return _fill_with("uniform_", self, lambda d: D.run(
        K.uniform, state_of(generator, "uniform_"), d, low=float(from_), high=float(to)))


def normal_(self, mean=0.0, std=1.0, generator=None):
    """Fill in place with N(mean, std^2) from ``generator`` (default: the global one)."""
    _float_only("normal_", self)
    return _fill_with("normal_", self, lambda d: D.run(
        K.normal, state_of(generator, "normal_"), d, mean=float(mean), std=float(std)))


def _float_only(op, x):
    if x._data.dtype not in _FLOATS:
        raise TypeError(f"{op}: expected a float tensor, got {x._data.dtype}")


def copy_(self, src, non_blocking=False):
    check_leaf("copy_", self)
    src = as_tensor(src)
    if _needs_graph(self, (src,)):
        self._node, self.requires_grad = None, False  # the old value gets no gradient
        return write(self, src if src.dtype == self.dtype or src.dtype in _FLOATS
                     or self.dtype not in _FLOATS else cast(src, self.dtype), "copy_")
    sd = src._data
    xd = self._data
    if sd.shape != xd.shape:
        if broadcast_shape("copy_", xd.shape, sd.shape) != xd.shape:
            raise ValueError(f"copy_: source of shape {sd.shape} can't be broadcast to the "
                             f"destination's shape {xd.shape}")
        if sd.dtype != xd.dtype:
            sd = D.run(K.cast, sd, _empty(sd.shape, xd.dtype))
        D.run(K.expand, sd, xd)
    elif sd.dtype != xd.dtype:
        D.run(K.cast, sd, xd)
    else:
        D.run(K.expand, sd, xd)
    bump(xd, "copy_")
    return self


for _f in (zero_, fill_, uniform_, normal_, copy_):
    public(_f, function=False, method=True)


def detach_(self):
    self._node = None
    self.requires_grad = False
    return self


public(detach_, function=False, method=True)


# ---- item assignment: x[idx] = v ---------------------------------------------------------------
# A position map (numpy index arithmetic on an arange) turns every index kind (basic, integer
# arrays on any dims, masks) into flat positions; the scatter_along kernel writes the values.
_index_put = primitive("index_put")


def _positions(shape, idx):
    from .shape import _as_int_index
    items = idx if isinstance(idx, tuple) else (idx,)
    items = tuple(_as_int_index(i) for i in items)
    items = tuple(i._data if isinstance(i, Tensor) else i for i in items)
    n = 1
    for s in shape:
        n *= s
    try:
        return np.array(np.arange(n, dtype=np.int64).reshape(shape)[items])
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {shape})") from None


def _basic(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items) and not any(isinstance(i, bool) for i in items)


def setitem(self, idx, value):
    """x[idx] = value (basic, integer-array and mask indices; value broadcast to the selection)."""
    check_leaf("__setitem__ (x[idx] = v)", self)
    xd = self._data
    if isinstance(value, _SCALARS):
        v = _wrap(np.asarray(value, dtype=xd.dtype))
    else:
        v = as_tensor(value)
    graph = _needs_graph(self, (v,))
    if not graph and _basic(idx):
        items = idx if isinstance(idx, tuple) else (idx,)
        if not any(i is Ellipsis for i in items):
            items = items + (Ellipsis,)  # a full integer index gives a 0-d view, not a scalar
        view = xd[items]
        vd = v._data
        if vd.dtype != xd.dtype:
            if vd.dtype in _FLOATS and xd.dtype not in _FLOATS:
                raise TypeError(f"index_put_: value of dtype {vd.dtype} can't be written into "
                                f"a {xd.dtype} tensor")
            vd = D.run(K.cast, vd, _empty(vd.shape, xd.dtype))
        view_shape = view.shape
        if vd.shape != view_shape:
            if broadcast_shape("setitem", view_shape, vd.shape) != view_shape:
                raise ValueError(f"setitem: value of shape {vd.shape} can't be broadcast to the "
                                 f"indexed shape {view_shape}")
            vd = D.run(K.expand, vd, view_shape)
        item = xd.itemsize
        if xd.size == 0 or view.size == 0:
            return
        offset = (view.__array_interface__["data"][0] - xd.__array_interface__["data"][0]) // item
        strides = tuple(s // item for s in view.strides)
        D.run(K.strided_put, vd, xd, 0, offset, strides)
        bump(xd, "__setitem__")
        return
    pos = _positions(xd.shape, idx)
    if v._data.dtype != xd.dtype:
        if v._data.dtype in _FLOATS and xd.dtype not in _FLOATS:
            raise TypeError(f"index_put_: value of dtype {v._data.dtype} can't be written into "
                            f"a {xd.dtype} tensor")
        v = cast(v, xd.dtype)
    if v.shape != pos.shape:
        if broadcast_shape("setitem", pos.shape, v.shape) != pos.shape:
            raise ValueError(f"setitem: value of shape {v.shape} can't be broadcast to the "
                             f"indexed shape {pos.shape}")
        v = expand(v, pos.shape)
    flat = pos.reshape(-1)
    if not graph:
        D.run(K.scatter_along, xd.reshape(-1), v._data.reshape(-1), flat, xd.reshape(-1),
              dim=0, add=0)
        bump(xd, "__setitem__")
        return
    old = _snapshot(self)
    r = D.run(K.scatter_along, old._data.reshape(-1), v._data.reshape(-1), flat,
              (xd.size,), dim=0, add=0).reshape(xd.shape)
    out = make(r, _index_put, (old, v), (flat, xd.shape, pos.shape))
    D.run(K.expand, out._data, xd)
    bump(xd, "__setitem__")
    self._node, self.requires_grad = out._node, out.requires_grad


@_index_put.defvjp
def _(g, needs, flat, shape, pshape):
    gf = g.reshape(-1)
    dx = dv = None
    if needs[0]:
        zeros = _empty(flat.shape, g.dtype)
        D.run(K.fill, zeros, 0.0)
        dx = D.run(K.scatter_along, gf, zeros, flat, gf.shape, dim=0, add=0).reshape(shape)
    if needs[1]:
        dv = D.run(K.gather_dim, gf, flat, flat.shape, dim=0).reshape(pshape)
    return dx, dv


public(setitem, function=False, method=["__setitem__"])


# ---- every other out-of-place op's `_` twin (exp_, pow_, sigmoid_, ...) ------------------------
_TWINS = ("exp log sqrt abs sin cos tanh sigmoid relu neg pow square rsqrt log1p expm1 floor "
          "ceil round trunc sign erf reciprocal masked_fill scatter scatter_add index_fill "
          "nan_to_num floor_divide remainder fmod bitwise_and bitwise_or bitwise_xor "
          "bitwise_not logical_not leaky_relu maximum minimum").split()
_OPERATORS = {"floor_divide": "__ifloordiv__", "remainder": "__imod__", "pow": "__ipow__",
              "bitwise_and": "__iand__", "bitwise_or": "__ior__", "bitwise_xor": "__ixor__",
              "bitwise_left_shift": "__ilshift__", "bitwise_right_shift": "__irshift__"}


def declare_twins():
    """Called once every op module is imported (ops/__init__.py)."""
    fns = _public_mod.functions()
    have = {n for e in _public_mod.EXPORTS for n, _ in e.methods}
    for name in _TWINS + ["bitwise_left_shift", "bitwise_right_shift"]:
        f = fns.get(name)
        if f is None:
            continue
        names = [] if name + "_" in have else [name + "_"]
        if name in _OPERATORS:
            names.append(_OPERATORS[name])
        if names:
            public(from_outofplace(name + "_", f), function=False, method=names)
