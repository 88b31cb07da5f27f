"""Public-API fuzzer (hypothesis): public functions, Tensor methods and operators,
nn.functional and layers called with random tensors (0- and 1-sized dims, up to 6-D; float32,
float64, int64, bool; contiguous, transposed, strided and negative-stride numpy inputs; NaN, inf,
huge values) and wrong Python types, then backward when the result needs a gradient. Run by
tests/test_fuzz.py in a child process, so a crash or hang fails the test; the last call is
written to ``--log`` before it is made.

    python tests/fuzz_public.py --seed 0 --examples 300 --log /tmp/pub.log
prints ``calls=N`` and the count of each exception type the calls raised."""
import argparse
import collections
import sys
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed as hseed, settings, strategies as st

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.ops import public

# Python exceptions are the expected answer to bad arguments; SystemError means a C-API misuse.
BAD = (SystemError,)
SKIP = {"set_default_dtype"}

FUNCS = sorted((n, f) for n, f in public.functions().items() if n not in SKIP)
FUNCS += [("nn.functional." + n, getattr(F, n)) for n in sorted(dir(F))
          if not n.startswith("_") and callable(getattr(F, n)) and n not in dict(FUNCS)]
CREATORS = [("zeros", gc.zeros), ("ones", gc.ones), ("empty", gc.empty), ("randn", gc.randn),
            ("rand", gc.rand), ("full", gc.full), ("arange", gc.arange), ("randint", gc.randint),
            ("tensor", gc.tensor), ("as_tensor", gc.as_tensor), ("linspace", gc.linspace),
            ("randperm", gc.randperm), ("eye_like", gc.zeros_like)]
OPERATORS = ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__neg__", "__abs__",
             "__lt__", "__eq__", "__getitem__", "__matmul__", "__radd__", "__rsub__", "__rpow__"]
METHODS = sorted(n for n in dir(gc.Tensor) if not n.startswith("_") and
                 callable(getattr(gc.Tensor, n, None))
                 and n not in ("backward", "register_hook", "register_post_accumulate_grad_hook"))
LAYERS = [nn.Linear, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU, nn.Softmax,
          nn.LogSoftmax, nn.Flatten, nn.Identity, nn.Dropout, nn.Embedding, nn.MSELoss,
          nn.L1Loss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
          nn.HuberLoss, nn.SmoothL1Loss]

DTYPES = [np.float32, np.float64, np.int64, np.bool_]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, 1e-40, 3e300]


@st.composite
def arrays(draw):
    nd = draw(st.integers(0, 6))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 1, 2, 3, 4]), min_size=nd, max_size=nd)))
    dt = draw(st.sampled_from(DTYPES))
    n = int(np.prod(shape))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rs = np.random.RandomState(seed)
    if dt == np.bool_:
        a = rs.rand(n) < 0.5
    elif dt == np.int64:
        a = rs.randint(-3, 8, n)
    else:
        a = rs.randn(n) * draw(st.sampled_from([1.0, 1.0, 1e-3, 1e30]))
        if draw(st.booleans()) and n:
            a[rs.randint(0, n, max(1, n // 4))] = rs.choice(SPECIAL, max(1, n // 4))
    with np.errstate(over="ignore"):
        a = a.astype(dt).reshape(shape)
    layout = draw(st.sampled_from(["c", "c", "T", "step", "neg"]))
    if layout == "T" and a.ndim >= 2:
        a = np.ascontiguousarray(np.swapaxes(a, 0, -1)).swapaxes(0, -1)
    elif layout == "step" and a.ndim >= 1:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "neg" and a.ndim >= 1:
        a = a[..., ::-1][..., ::-1] if draw(st.booleans()) else a[::-1]
    return a


@st.composite
def values(draw):
    kind = draw(st.sampled_from(["tensor", "tensor", "tensor", "grad_tensor", "array", "int",
                                 "float", "none", "str", "list", "tuple", "bool", "object",
                                 "dtype", "slice"]))
    if kind in ("tensor", "grad_tensor"):
        a = draw(arrays())
        t = gc.tensor(a)
        if kind == "grad_tensor" and a.dtype.kind == "f":
            t.requires_grad_()
        return t
    if kind == "array":
        return draw(arrays())
    if kind == "int":
        return draw(st.sampled_from([0, 1, 2, 3, -1, -2, 7, 2 ** 62, -(2 ** 63)]))
    if kind == "float":
        return draw(st.sampled_from([0.0, 0.5, 1.5, -1.0, float("nan"), float("inf"), 1e308]))
    if kind == "str":
        return draw(st.sampled_from(["mean", "sum", "none", "tanh", "", "x"]))
    if kind == "list":
        return draw(st.lists(st.integers(-2, 4), max_size=4))
    if kind == "tuple":
        return tuple(draw(st.lists(st.integers(-2, 4), max_size=4)))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "object":
        return object()
    if kind == "dtype":
        return draw(st.sampled_from([gc.float32, gc.float64, gc.int64, gc.bool, np.int8, "x"]))
    if kind == "slice":
        return draw(st.sampled_from([slice(None), slice(1, None), slice(None, None, -1),
                                     slice(0, 0), Ellipsis, None]))
    return None


STATS = collections.Counter()
LOG = None


def attempt(desc, fn, *args, **kwargs):
    if LOG:
        LOG.write(desc + "\n")
    STATS["calls"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fn(*args, **kwargs)
            rs = r if isinstance(r, (tuple, list)) else (r,)
            for y in rs:
                if isinstance(y, gc.Tensor) and y.requires_grad:
                    STATS["backward"] += 1
                    y.sum().backward()
                if isinstance(y, gc.Tensor):
                    y.numpy() if not y.requires_grad else y.detach().numpy()
    except BAD:
        raise
    except Exception as e:  # noqa: BLE001  (any Python exception is an acceptable answer)
        STATS[type(e).__name__] += 1


@st.composite
def plausible(draw):
    """Arguments most ops accept: a float tensor, then maybe a same-shape or broadcastable
    tensor, a dim or a scalar."""
    a = draw(arrays())
    if a.dtype.kind != "f" and draw(st.booleans()):
        a = a.astype(np.float32)
    t = gc.tensor(a)
    if a.dtype.kind == "f" and draw(st.booleans()):
        t.requires_grad_()
    out = [t]
    more = draw(st.sampled_from(["", "same", "bcast", "dim", "scalar", "same+dim"]))
    if more in ("same", "same+dim"):
        with np.errstate(invalid="ignore", over="ignore"):
            b = gc.tensor(draw(arrays()).astype(a.dtype, copy=False).ravel()[:a.size])
        out.append(b.reshape(a.shape) if b.numel() == a.size else gc.tensor(np.ones_like(a)))
    elif more == "bcast":
        out.append(gc.tensor(np.ones(a.shape[-1:] if a.ndim else (), a.dtype)))
    if more in ("dim", "same+dim"):
        out.append(draw(st.integers(-a.ndim - 1, max(a.ndim, 1))))
    elif more == "scalar":
        out.append(draw(st.sampled_from([2, 0.5, -1.0, float("nan")])))
    return out


@st.composite
def calls(draw):
    kind = draw(st.sampled_from(["func", "func", "method", "op", "layer", "create"]))
    if draw(st.integers(0, 9)) < 7:
        args = draw(plausible())
    else:
        args = draw(st.lists(values(), min_size=0, max_size=4))
    if kind == "method" and args and isinstance(args[0], gc.Tensor) and draw(st.booleans()):
        name = draw(st.sampled_from(METHODS))
        return "Tensor." + name, getattr(args[0], name), args[1:]
    if kind == "func":
        name, fn = draw(st.sampled_from(FUNCS))
        return name, fn, args
    if kind == "method":
        t = gc.tensor(draw(arrays()))
        name = draw(st.sampled_from(METHODS))
        return "Tensor." + name, getattr(t, name), args
    if kind == "op":
        t = gc.tensor(draw(arrays()))
        if draw(st.booleans()) and t.dtype in (gc.float32, gc.float64):
            t.requires_grad_()
        name = draw(st.sampled_from(OPERATORS))
        return "Tensor." + name, getattr(t, name), args[:1]
    if kind == "create":
        name, fn = draw(st.sampled_from(CREATORS))
        return name, fn, args[:3]
    cls = draw(st.sampled_from(LAYERS))
    ctor = draw(st.lists(st.sampled_from([1, 2, 3, 0, 0.5, True, "mean", None]), max_size=2))

    def layer(*a):
        m = cls(*ctor)
        return m(*a)
    return "nn." + cls.__name__ + str(ctor), layer, args[:2]


def run(n_examples, seed):
    @hseed(seed)
    @settings(max_examples=n_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(calls())
    def fuzz(c):
        name, fn, args = c
        desc = name + "(" + ", ".join(
            f"{type(a).__name__}{getattr(a, 'shape', '')}{getattr(a, 'dtype', '')}" for a in args) + ")"
        attempt(desc, fn, *args)
    fuzz()


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--log", default=None)
    a = ap.parse_args()
    LOG = open(a.log, "w", buffering=1) if a.log else None
    run(a.examples, a.seed)
    print(f"calls={STATS['calls']} " + " ".join(f"{k}={v}" for k, v in sorted(STATS.items())
                                               if k != "calls"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
