"""Raw-entry fuzzer: every registered kernel (gradcore.dispatch.SCHEMAS) called through
``dispatch.run`` with arguments generated from its schema, or taken from valid calls recorded
from a small workload, then mutated (sizes, dtypes, index values, attributes, aliasing). Every array handed to a kernel lives at the very end of its own mapping,
followed by a PROT_NONE guard page, so reading or writing one element past its end is a
SIGSEGV: the parent test (tests/test_fuzz.py) sees the child die and reports the last call,
which this worker writes to ``--log`` before making it.

    python tests/fuzz_raw.py --seed 0 --calls 3000 --log /tmp/raw.log
prints ``calls=N errors=M`` (M: calls the kernels refused with a Python exception)."""
import argparse
import ctypes
import math
import mmap
import random
import sys

import numpy as np

from gradcore import dispatch as D

ALLOWED = (ValueError, TypeError, IndexError, MemoryError, RuntimeError, OverflowError)
PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
PROT_NONE, PROT_RW = 0, mmap.PROT_READ | mmap.PROT_WRITE
MAP_FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS

DTYPES = [np.float32, np.float64, np.int64, np.bool_]
FLOATS = [np.float32, np.float64]


class Guarded:
    """Arrays placed right before a PROT_NONE page; freed together after each call."""

    def __init__(self):
        self.maps = []

    def array(self, shape, dtype, values):
        dtype = np.dtype(dtype)
        n = math.prod(shape)
        nbytes = n * dtype.itemsize
        if nbytes == 0:
            return np.empty(shape, dtype)
        total = (nbytes + PAGE - 1) // PAGE * PAGE + PAGE
        base = _libc.mmap(None, total, PROT_RW, MAP_FLAGS, -1, 0)
        if base in (None, ctypes.c_void_p(-1).value):
            raise MemoryError("fuzz: mmap failed")
        _libc.mprotect(base + total - PAGE, PAGE, PROT_NONE)
        self.maps.append((base, total))
        start = base + total - PAGE - nbytes
        buf = (ctypes.c_char * nbytes).from_address(start)
        a = np.frombuffer(buf, dtype=dtype, count=n).reshape(shape)
        a[...] = values(shape, dtype)
        return a

    def free(self):
        for base, total in self.maps:
            _libc.munmap(base, total)
        self.maps.clear()


def values(rng):
    def make(shape, dtype):
        n = math.prod(shape)
        if dtype == np.bool_:
            return np.array([rng.random() < 0.5 for _ in range(n)], dtype=bool).reshape(shape)
        if dtype == np.int64:
            pool = [0, 1, 2, 3, -1, 5, 7]
            if rng.random() < 0.15:
                pool += [-100, 10 ** 9, -(2 ** 63), 2 ** 63 - 1, 2 ** 40]
            return np.array([rng.choice(pool) for _ in range(n)], dtype=np.int64).reshape(shape)
        pool = None
        if rng.random() < 0.2:
            pool = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e38, -1e-45, 1.0, 0.5]
        if pool:
            v = [rng.choice(pool) for _ in range(n)]
        else:
            v = [rng.gauss(0, 2) for _ in range(n)]
        with np.errstate(over="ignore"):
            return np.array(v, dtype=np.float64).astype(dtype).reshape(shape)
    return make


def rand_shape(rng, max_nd=4):
    nd = rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4][:max_nd * 2 + 1])
    if rng.random() < 0.03:  # now and then big enough for the parallel paths
        return tuple(rng.choice([1, 7, 64, 300, 2049]) for _ in range(min(nd, 2)))
    return tuple(rng.choice([0, 1, 1, 2, 3, 3, 4, 5]) for _ in range(nd))


def mutate_shape(rng, shape):
    r = rng.random()
    if r < 0.55 or not shape and r < 0.8:
        return shape
    if r < 0.7 and shape:
        s = list(shape)
        s[rng.randrange(len(s))] = rng.choice([0, 1, 2, 3, 7])
        return tuple(s)
    if r < 0.8 and shape:
        return tuple(1 if rng.random() < 0.5 else d for d in shape)
    if r < 0.9:
        return shape[1:] if shape else (1,)
    return rand_shape(rng)


def pick_dtype(rng, kind, bound):
    """dtype for a schema type string; T/A share one dtype per call (bound)."""
    kind = kind.rstrip("!").replace("...", "")
    if rng.random() < 0.08:
        return rng.choice(DTYPES)
    if kind == "T":
        bound.setdefault("T", rng.choice(FLOATS))
        return bound["T"]
    if kind == "A":
        bound.setdefault("A", rng.choice(DTYPES))
        return bound["A"]
    return {"float": rng.choice(FLOATS), "any": rng.choice(DTYPES), "f32": np.float32,
            "f64": np.float64, "i64": np.int64, "bool": np.bool_}[kind]


def attr_value(rng, kind):
    if kind == "int":
        return rng.choice([0, 0, 1, 1, 2, -1, 3, -2, 4, 100, -100])
    if kind == "float":
        return rng.choice([0.0, 0.5, 1.0, 1.0, 2.0, -1.0, 0.1, float("nan"), float("inf"), 1e300])
    n = rng.choice([0, 1, 2, 3, 4, 5])
    if kind == "int[]":
        return [rng.choice([0, 1, 2, 3, -1, 5, 10]) for _ in range(n)]
    return [rng.choice([0.0, 1.0, 0.5, -1.0]) for _ in range(n)]


def gen_call(rng, s, g):
    bound = {}
    mk = values(rng)
    base = rand_shape(rng)
    ins, outs = [], []
    for name, kind in s.inputs:
        if kind.endswith("..."):
            for _ in range(rng.choice([0, 1, 2, 3, 4, 6])):
                shp = base if rng.random() < 0.6 else rand_shape(rng)
                ins.append(g.array(shp, pick_dtype(rng, kind, bound), mk))
            continue
        if kind.endswith("!") and rng.random() < 0.85:
            ins.append(g.array((2,), np.int64, mk))
            continue
        ins.append(g.array(mutate_shape(rng, base), pick_dtype(rng, kind, bound), mk))
    for name, kind in s.outputs:
        shp = mutate_shape(rng, base)
        if kind in ("T", "A", "f32", "f64", "i64", "bool") and rng.random() < 0.35:
            outs.append(shp)
        else:
            outs.append(g.array(shp, pick_dtype(rng, kind, bound), mk))
    attrs = [attr_value(rng, kind) for _, kind, _ in s.attrs]
    r = rng.random()
    if r < 0.05 and attrs:
        attrs.pop()
    elif r < 0.08:
        attrs.append(1)
    if rng.random() < 0.03 and ins:   # a wrong count of tensors
        ins.pop()
    return ins, outs, attrs


def build_corpus():
    """Valid calls of as many kernels as a small workload reaches (forward, backward, losses,
    indexing, optimizers), recorded through the dispatcher: mutating one aspect of a valid
    call reaches the checks of kernels whose inputs' shapes are coupled (a random call rarely
    gets every shape right)."""
    import gradcore as gc
    import gradcore.nn.functional as F
    rs = np.random.RandomState(0)
    corpus = {}
    with D.record() as rec:
        for dt in (gc.float32, gc.float64):
            x = gc.tensor(rs.randn(4, 5), dtype=dt, requires_grad=True)
            x3 = gc.tensor(rs.randn(2, 5, 3), dtype=dt, requires_grad=True)
            t, t3 = gc.tensor([0, 1, 4, 2]), gc.tensor([[0, 1, 4], [2, 2, 0]])
            p = gc.tensor(rs.rand(4, 5), dtype=dt)
            w = gc.tensor(rs.rand(5) + 0.5, dtype=dt)
            outs = [F.cross_entropy(x, t, weight=w, label_smoothing=0.1),
                    F.cross_entropy(x3, t3, reduction="sum"), F.cross_entropy(x, p),
                    F.nll_loss(x.log_softmax(1), t, weight=w), F.nll_loss(x3.log_softmax(1), t3),
                    F.binary_cross_entropy(x.sigmoid(), p), F.mse_loss(x, p),
                    F.binary_cross_entropy_with_logits(x, p, pos_weight=w),
                    F.smooth_l1_loss(x, p), F.huber_loss(x, p), F.l1_loss(x, p),
                    (x @ x.T).relu().sum(), x.softmax(1).sum(), x3.softmax(1).sum(),
                    x3.log_softmax(2).sum(), x.logsumexp(1).sum(), x3.logsumexp(1).sum(),
                    x.amax(1).sum(), x.max(1)[0].sum(), x.min(0)[0].sum(), x3.var(1).sum(),
                    x[gc.tensor([0, 2, 3])].sum(), x[1:, ::2].sum(), x.T.reshape(-1).sum(),
                    gc.cat([x, x], 1).sum(), F.dropout(x, 0.3).sum(), x.clamp(-0.5, 0.5).sum(),
                    gc.where(x > 0, x, x * 2).sum(), (x ** 3).sum(), (x / (x.abs() + 1)).sum(),
                    F.gelu(x).sum(), F.softplus(x).sum(), F.leaky_relu(x).sum(),
                    gc.maximum(x, p).sum(), (x.exp().log() + x.sin() * x.cos()).sum(),
                    gc.bmm(x3.transpose(1, 2), x3).sum()]
            for o in outs:
                o.backward()
            params = [x, x3]
            for opt in (gc.optim.SGD(params, lr=0.1, momentum=0.9), gc.optim.Adam(params),
                        gc.optim.AdamW(params, amsgrad=True), gc.optim.RMSprop(params, centered=True),
                        gc.optim.Adagrad(params)):
                opt.step()
            gc.nn.utils.clip_grad_norm_(params, 1.0)
            gc.randint(0, 5, (7,)); gc.randn(3, dtype=dt)
    for kid, ins, outs, attrs in rec.calls:
        corpus.setdefault(kid, []).append((ins, outs, attrs))
    return corpus


BAD_INT = [10 ** 9, -(2 ** 63), 2 ** 63 - 1, -7, 5, 100]


def corpus_call(rng, s, entry, g):
    """A recorded valid call copied into guarded buffers, with one aspect mutated (or none)."""
    ins, outs, attrs = entry
    mk = values(rng)
    ins = [g.array(a.shape, a.dtype, lambda sh, dt, a=a: a) for a in ins]
    outs = [g.array(o.shape, o.dtype, lambda sh, dt, o=o: o) for o in outs]
    attrs = list(attrs)
    r = rng.random()
    arrays = ins + outs
    if r < 0.15 or not arrays:
        pass
    elif r < 0.4:  # bad index / target values
        ints = [a for a in ins if a.dtype == np.int64 and a.size]
        if ints:
            a = rng.choice(ints)
            a.flat[rng.randrange(a.size)] = rng.choice(BAD_INT)
    elif r < 0.65:  # one argument of another shape
        k = rng.randrange(len(arrays))
        a = arrays[k]
        shp = mutate_shape(rng, a.shape)
        if shp == a.shape:
            shp = a.shape[:-1] + (a.shape[-1] + 1,) if a.shape else (2,)
        b = g.array(shp, a.dtype, mk)
        if k < len(ins):
            ins[k] = b
        else:
            outs[k - len(ins)] = b
    elif r < 0.8:  # one argument of another dtype
        k = rng.randrange(len(arrays))
        a = arrays[k]
        b = g.array(a.shape, rng.choice([d for d in DTYPES if d != a.dtype]), mk)
        if k < len(ins):
            ins[k] = b
        else:
            outs[k - len(ins)] = b
    elif r < 0.9 and attrs:  # one attribute changed
        i = rng.randrange(len(attrs))
        attrs[i] = rng.choice([-1, 0, 1, 2, 5, 1e9, -1e9, float("nan")])
    else:  # an output aliasing an input
        if outs and ins:
            j = rng.randrange(len(outs))
            same = [a for a in ins if a.shape == outs[j].shape and a.dtype == outs[j].dtype]
            if same:
                outs[j] = rng.choice(same)
    return ins, outs, attrs


def describe(s, ins, outs, attrs):
    def d(a):
        return f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else f"shape{list(a)}"
    return (f"{s.name}(ins={[d(a) for a in ins]}, outs={[d(o) for o in outs]}, "
            f"attrs={attrs})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--log", default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    log = open(args.log, "w", buffering=1) if args.log else None
    schemas = [s for s in D.SCHEMAS]
    corpus = build_corpus()
    g = Guarded()
    calls = errors = 0
    for i in range(args.calls):
        s = schemas[i % len(schemas)] if i < len(schemas) else rng.choice(schemas)
        try:
            if s.id in corpus and rng.random() < 0.6:
                ins, outs, attrs = corpus_call(rng, s, rng.choice(corpus[s.id]), g)
            else:
                ins, outs, attrs = gen_call(rng, s, g)
        except MemoryError:
            g.free()
            continue
        if log:
            log.write(f"{i} {describe(s, ins, outs, attrs)}\n")
        try:
            D.run(s.id, *ins, *outs, *attrs)
        except ALLOWED:
            errors += 1
        calls += 1
        g.free()
    print(f"calls={calls} errors={errors}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
