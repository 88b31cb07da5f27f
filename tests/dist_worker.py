"""Worker for tests/test_distributed.py, run under ``mpiexec -n 2 python tests/dist_worker.py
CASE OUT_DIR``. Rank 0 writes the results the test compares into OUT_DIR; the single-process
references are computed by the test itself with the same helpers (``make_data``,
``make_model``, ``train_manual``)."""
import json
import os
import sys

import numpy as np

import gradcore as gc
from gradcore import nn, optim
import gradcore.nn.functional as F

N_SAMPLES, N_IN, N_OUT, HIDDEN, EPOCHS, SEED = 96, 20, 4, 32, 2, 3
LR = {"sgd": 0.1, "adam": 1e-2}


def make_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, N_SAMPLES).astype(np.int64)
    return gc.data.TensorDataset(X, y)


def make_model(out=N_OUT, extra=False):
    gc.manual_seed(0)
    layers = [nn.Linear(N_IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
              nn.Linear(HIDDEN, out)]
    if extra:
        layers += [nn.ReLU(), nn.Linear(out, out)]
    return nn.Sequential(*layers)


def make_opt(name, params):
    return optim.SGD(params, lr=LR[name]) if name == "sgd" else optim.Adam(params, lr=LR[name])


def train_manual(model, opt, loader, epochs=EPOCHS):
    for e in range(epochs):
        loader.sampler.set_epoch(e)
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()


def params_of(model):
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def _same_on_all_ranks(model):
    from gradcore.distributed import _comm
    mine = params_of(model)
    every = _comm.allgather(mine)
    return all(np.array_equal(every[0][k], d[k]) for d in every for k in mine)


def case_equiv(out_dir, name, batch):
    ds = make_data()
    model = make_model()
    # 0.5 KiB buckets: each parameter alone, so ordering and multi-request waits are exercised
    ddp = gc.distributed.DistributedDataParallel(model, bucket_mb=0.0005)
    loader = gc.data.DataLoader(ds, batch_size=batch,
                                sampler=gc.data.DistributedSampler(ds, seed=SEED))
    train_manual(ddp, make_opt(name, model.parameters()), loader)
    same = _same_on_all_ranks(model)
    if gc.distributed.rank() == 0:
        np.savez(os.path.join(out_dir, f"equiv_{name}.npz"), **params_of(model))
        _write(out_dir, f"equiv_{name}.json", {"buckets": len(ddp.bucket_sizes),
                                               "same_on_all_ranks": same})


def case_fit(out_dir, batch):
    from gradcore.train import callbacks
    r = gc.distributed.rank()
    if r != 0:  # only rank 0 may write checkpoints
        def refuse(*a, **k):
            raise AssertionError("a rank other than 0 wrote a checkpoint")
        callbacks.save = refuse
    ds = make_data()
    model = make_model()
    ddp = gc.distributed.DistributedDataParallel(model)
    loader = gc.data.DataLoader(ds, batch_size=batch,
                                sampler=gc.data.DistributedSampler(ds, seed=SEED))
    val = gc.data.DataLoader(ds, batch_size=batch,
                             sampler=gc.data.DistributedSampler(ds, shuffle=False))
    ckpt = callbacks.ModelCheckpoint(os.path.join(out_dir, "ckpt-{epoch}.gc"),
                                     save_best_only=False)
    hist = gc.train.fit(ddp, F.cross_entropy, make_opt("adam", model.parameters()), loader,
                        EPOCHS, val_loader=val, callbacks=[ckpt], progress=False)
    logs = {k: hist[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    every = gc.distributed._comm.allgather(logs)
    if r == 0:
        np.savez(os.path.join(out_dir, "fit.npz"), **params_of(model))
        _write(out_dir, "fit.json", {"logs": logs, "same_logs": all(e == logs for e in every),
                                     "same_on_all_ranks": _same_on_all_ranks(model),
                                     "last_path": ckpt.last_path})
    else:
        _same_on_all_ranks(model)


def case_mismatch(out_dir):
    r = gc.distributed.rank()
    errors = {}
    tries = {
        "shape": lambda: gc.distributed.broadcast_parameters(make_model(N_OUT + r)),
        "count": lambda: gc.distributed.broadcast_parameters(make_model(extra=r == 1)),
        "ddp": lambda: gc.distributed.DistributedDataParallel(make_model(N_OUT + r)),
        "allreduce": lambda: gc.distributed.allreduce(gc.zeros(3 + r)),
    }
    for key, fn in tries.items():
        try:
            fn()
            errors[key] = None
        except RuntimeError as e:
            errors[key] = str(e)
    ok = make_model()   # after the errors every rank is still in step
    gc.distributed.broadcast_parameters(ok)
    if r == 0:
        _write(out_dir, "mismatch.json", errors)


def case_collectives(out_dir):
    r, n = gc.distributed.rank(), gc.distributed.world_size()
    res = {}
    t = gc.tensor([[1.0 + r, 2.0], [3.0, 4.0 * r]])
    res["same_object"] = gc.distributed.allreduce(t) is t
    res["mean"] = t.tolist()
    res["sum64"] = gc.distributed.allreduce(gc.tensor([1.5 * r, 1.0], dtype=gc.float64),
                                            op="sum").tolist()
    res["sum_int"] = gc.distributed.allreduce(gc.tensor([r, 10]), op="sum").tolist()
    try:
        gc.distributed.allreduce(gc.tensor([r, 1]))
        res["mean_int"] = None
    except ValueError as e:
        res["mean_int"] = str(e)
    # optimizer state: rank 0 takes steps, the others none; then everyone has rank 0's state
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    if r == 0:
        x = gc.randn(5, N_IN)
        for _ in range(3):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
    gc.distributed.broadcast_parameters(model)
    gc.distributed.broadcast_optimizer_state(opt)
    sd = opt.state_dict()
    st = {i: {k: np.asarray(v).tolist() for k, v in s.items()} for i, s in sd["state"].items()}
    every = gc.distributed._comm.allgather(st)
    res["opt_state_params"] = len(st)
    res["opt_state_same"] = all(e == every[0] for e in every)
    res.update(_hooks_in_any_order(r, n))
    res.update(_unused_parameter(r))
    gc.distributed.barrier()
    res["world_size"], res["init"] = n, gc.distributed.is_initialized()
    if r == 0:
        _write(out_dir, "collectives.json", res)


def _hooks_in_any_order(r, n):
    """Gradients becoming ready in a different order on each rank (as a real engine may
    deliver them): buckets still start in bucket order everywhere, so no deadlock, and every
    .grad ends up as the mean."""
    model = make_model()
    ddp = gc.distributed.DistributedDataParallel(model, bucket_mb=0.0005)
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = gc.full(p.shape, float(10 * r + i))
    sync = ddp._ddp
    bucket_of = {id(p): b for b in sync.buckets for p in b.params}
    for p in (params if r == 0 else params[::-1]):   # what each parameter's hook does
        sync.on_grad(bucket_of[id(p)])
    want = [10 * (n - 1) / 2 + i for i in range(len(params))]
    ok = all(np.allclose(p.grad.numpy(), w) for p, w in zip(params, want))
    return {"any_order_buckets": len(ddp.bucket_sizes), "any_order_mean": ok}


def _unused_parameter(r):
    """A parameter without a gradient: the sync stays pending, the next forward raises, and
    finish_grad_sync() completes it (the unused parameter's gradient becomes zeros)."""
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    gc.manual_seed(0)
    model = TwoHeads()
    ddp = gc.distributed.DistributedDataParallel(model)
    x = gc.full((4, 3), float(r + 1))
    ddp(x).sum().backward()
    try:
        ddp(x)
        raised = None
    except RuntimeError as e:
        raised = str(e)
    ddp.finish_grad_sync()
    ddp.finish_grad_sync()   # nothing pending: a no-op
    return {"unused_raised": raised,
            "unused_grad_zero": bool((model.unused.weight.grad.numpy() == 0).all()),
            "used_bias_grad": model.used.bias.grad.tolist()}


def case_crash(out_dir):
    ds = make_data()
    model = gc.distributed.DistributedDataParallel(make_model())
    loader = gc.data.DataLoader(ds, batch_size=8, sampler=gc.data.DistributedSampler(ds))
    opt = make_opt("sgd", model.parameters())
    for step, (xb, yb) in enumerate(loader):
        if step == 2 and gc.distributed.rank() == 1:
            raise ValueError("boom from rank 1")
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()   # rank 0 waits here for rank 1
        opt.step()
    gc.distributed.barrier()
    sys.exit("rank 0 got past the crash: the job did not abort")


def _write(out_dir, name, obj):
    with open(os.path.join(out_dir, name), "w") as f:
        json.dump(obj, f)


def main(argv):
    case, out_dir, *rest = argv
    gc.set_num_threads(1)
    gc.distributed.init()
    if case == "equiv":
        case_equiv(out_dir, rest[0], int(rest[1]))
    elif case == "fit":
        case_fit(out_dir, int(rest[0]))
    else:
        globals()["case_" + case](out_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
