"""``gc.distributed``: data-parallel training across processes over MPI (mpi4py).

    # train.py, run as:  mpiexec -n 4 python train.py
    import gradcore as gc
    gc.distributed.init()
    model = gc.distributed.DistributedDataParallel(make_model())   # broadcasts rank 0's weights
    sampler = gc.data.DistributedSampler(dataset, shuffle=True, seed=0)
    loader = gc.data.DataLoader(dataset, batch_size=32, sampler=sampler)  # 32 per rank
    gc.train.fit(model, loss_fn, opt, loader, epochs=10)   # metrics averaged, rank 0 prints

Needs the ``mpi`` extra (``pip install gradcore[mpi]``: mpi4py and the ``mpich`` wheel, which
brings ``mpiexec``). mpi4py is imported by ``init()`` only: ``import gradcore`` never loads it.

Every function here except ``is_initialized`` is collective once ``init()`` ran: all ranks
call it in the same order. ``init()`` installs an excepthook: a rank whose exception is not
caught prints its traceback and calls ``MPI_Abort``, which ends every rank of the job within
about a second instead of leaving the others blocked in a collective.
"""
import sys
import threading
import time

import numpy as np

from .. import dispatch as D
from ..dispatch import K

__all__ = ["init", "is_initialized", "rank", "world_size", "barrier", "allreduce",
           "broadcast_parameters", "broadcast_optimizer_state", "DistributedDataParallel"]

_MPI = None    # the mpi4py.MPI module, once init() ran
_comm = None   # a private duplicate of COMM_WORLD: our messages never match the user's


def init():
    """Join the job ``mpiexec`` started (MPI_Init through mpi4py). Idempotent; returns nothing.

    Also valid without mpiexec (a world of one rank). Installs the abort-on-uncaught-exception
    hooks (``sys.excepthook`` and ``threading.excepthook``)."""
    global _MPI, _comm
    if _comm is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("gc.distributed needs mpi4py and an MPI library: "
                          "pip install gradcore[mpi]  (or: pip install mpi4py mpich)") from e
    _MPI, _comm = MPI, MPI.COMM_WORLD.Dup()
    _install_abort_hooks()


def is_initialized():
    return _comm is not None


def _require(who):
    if _comm is None:
        raise RuntimeError(f"gc.distributed.{who}: call gc.distributed.init() first")
    return _comm


def rank():
    """This process's rank, 0 .. world_size() - 1."""
    return _require("rank").Get_rank()


def world_size():
    """The number of ranks in the job."""
    return _require("world_size").Get_size()


def barrier():
    """Wait until every rank reached this call."""
    _require("barrier").Barrier()


def _local_size():
    """Ranks on this machine (they share its cores)."""
    local = _require("_local_size").Split_type(_MPI.COMM_TYPE_SHARED)
    try:
        return local.Get_size()
    finally:
        local.Free()


# ---- failure handling ---------------------------------------------------------------------
def _install_abort_hooks():
    prev, prev_thread = sys.excepthook, threading.excepthook

    def hook(etype, value, tb):
        prev(etype, value, tb)
        _abort(f"uncaught {etype.__name__}")

    def thread_hook(args):
        prev_thread(args)
        if args.exc_type is not SystemExit:
            _abort(f"uncaught {args.exc_type.__name__} in thread "
                   f"{getattr(args.thread, 'name', '?')}")

    sys.excepthook, threading.excepthook = hook, thread_hook


def _abort(why):
    try:
        n, r = _comm.Get_size(), _comm.Get_rank()
        sys.stderr.write(f"gradcore.distributed: rank {r} of {n} stopped ({why}); aborting all "
                         f"{n} ranks (MPI_Abort)\n")
        sys.stderr.flush()
        sys.stdout.flush()
        # mpiexec forwards each rank's output through a pipe; MPI_Abort kills the forwarding
        # proxy too, and what it had not read yet (the traceback above) would be lost.
        time.sleep(0.3)
    finally:
        _MPI.COMM_WORLD.Abort(1)


def _agree(who, error):
    """Collective: raise ``RuntimeError`` on EVERY rank if any rank found an ``error`` (a str or
    None), so that no rank goes on into a collective the others will never reach."""
    errors = _comm.allgather(error)
    bad = [(r, e) for r, e in enumerate(errors) if e is not None]
    if bad:
        r, e = bad[0]
        raise RuntimeError(f"{who}: {e}" + ("" if r == _comm.Get_rank() else f" (on rank {r})"))


# ---- collectives on tensors ---------------------------------------------------------------
_OPS = ("mean", "sum")
_SIG = 10  # ndim, dtype code, up to 8 dims: the fixed-size signature an allreduce checks


def _signature(a):
    from ..dtypes import CODE
    s = np.full(_SIG, -1, np.int64)
    s[0], s[1] = a.ndim, CODE[a.dtype]
    dims = a.shape if a.ndim <= _SIG - 2 else a.shape[:_SIG - 3] + (a.size,)
    s[2:2 + len(dims)] = dims
    return s


def allreduce(tensor, op="mean"):
    """Sum (``op='sum'``) or average (``op='mean'``) ``tensor`` over all ranks, in place;
    returns ``tensor``. Every call first checks that all ranks passed the same shape and dtype
    (one 80-byte allgather) and raises on every rank otherwise. 'mean' needs a float tensor."""
    comm = _require("allreduce")
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be 'mean' or 'sum', got {op!r}")
    a = tensor._data
    sig = _signature(a)
    sigs = np.empty((comm.Get_size(), _SIG), np.int64)
    comm.Allgather(sig, sigs)
    diff = np.flatnonzero((sigs != sig).any(1))
    if diff.size:
        r = int(diff[0])
        _agree("allreduce", f"tensor shapes/dtypes differ across ranks: rank {comm.Get_rank()} "
                            f"has {tuple(a.shape)} {a.dtype}, rank {r} has "
                            f"{_describe_signature(sigs[r])}")
    if op == "mean" and a.dtype.kind != "f":
        raise ValueError(f"allreduce: op='mean' needs a float tensor, got {a.dtype}")
    comm.Allreduce(_MPI.IN_PLACE, a, op=_MPI.SUM)
    if op == "mean":
        _scale(a.reshape(-1), 1.0 / comm.Get_size())
    return tensor


def _describe_signature(s):
    from ..dtypes import CODE
    names = {v: k for k, v in CODE.items()}
    ndim = int(s[0])
    dims = tuple(int(d) for d in s[2:2 + min(ndim, _SIG - 2)])
    return f"{dims} {names.get(int(s[1]), '?')}"


def _scale(flat, alpha):
    """flat *= alpha in place, on the vaxpby kernel (y = a*x + 0*y with y aliasing x)."""
    D.run(K.vaxpby, flat, flat, float(alpha), 0.0)


# ---- broadcasts -----------------------------------------------------------------------------
def _named_state(model):
    """(name, tensor) of the parameters, then the buffers, of a Module; or of a list of
    tensors (named by position)."""
    if hasattr(model, "named_parameters"):
        items = list(model.named_parameters())
        if hasattr(model, "named_buffers"):
            items += [(n, b) for n, b in model.named_buffers() if b is not None]
        return items
    return [(str(i), t) for i, t in enumerate(model)]


def _check_same(who, items, root):
    """Collective: every rank's (name, shape, dtype) list against root's; the error names the
    first differing parameter."""
    mine = [(n, tuple(t.shape), str(t.dtype)) for n, t in items]
    theirs = _comm.bcast(mine, root=root)
    err = None
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if a[1:] != b[1:]:
            err = (f"models differ across ranks at parameter {i} {a[0]!r}: rank "
                   f"{_comm.Get_rank()} has shape {a[1]} {a[2]}, rank {root} has {b[0]!r} "
                   f"with shape {b[1]} {b[2]}")
            break
    else:
        if len(mine) != len(theirs):
            i = min(len(mine), len(theirs))
            first = (mine if len(mine) > len(theirs) else theirs)[i][0]
            err = (f"models differ across ranks: rank {_comm.Get_rank()} has {len(mine)} "
                   f"parameters and buffers, rank {root} has {len(theirs)}; the first one "
                   f"missing on one side is {first!r}")
    _agree(who, err)


def broadcast_parameters(model, root=0):
    """Copy rank ``root``'s parameters and buffers into every rank's ``model`` (a Module, or a
    list of tensors), in place. First checks that every rank's model has the same number of
    tensors with the same shapes and dtypes; if not, raises RuntimeError on every rank naming
    the first differing parameter."""
    comm = _require("broadcast_parameters")
    items = _named_state(model)
    _check_same("broadcast_parameters", items, root)
    for _, t in items:
        comm.Bcast(t._data, root=root)


def broadcast_optimizer_state(optimizer, root=0):
    """Give every rank rank ``root``'s optimizer state (moments, step counts, learning rates):
    its ``state_dict()`` is broadcast and loaded with ``load_state_dict``. A load that fails on
    any rank raises on every rank."""
    comm = _require("broadcast_optimizer_state")
    sd = None
    if comm.Get_rank() == root:
        sd = _to_numpy(optimizer.state_dict())
    sd = comm.bcast(sd, root=root)
    err = None
    if comm.Get_rank() != root:
        try:
            optimizer.load_state_dict(sd)
        except (ValueError, KeyError, TypeError) as e:
            err = str(e)
    _agree("broadcast_optimizer_state", err)


def _to_numpy(x):
    from ..tensor import Tensor
    if isinstance(x, Tensor):
        return np.array(x._data)
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    return x


from .ddp import DistributedDataParallel  # noqa: E402
