"""``fit``: the standard supervised training loop, and ``evaluate``.

One step: zero_grad -> forward -> loss -> backward -> record gradient norms -> clip (optional)
-> optimizer.step() -> per-batch scheduler step. Every tensor computation, the gradient norms and
accuracy included, goes through gc ops (C++ kernels); Python only converts finished scalars.
"""
import math
import time

from ..autograd import no_grad
from . import _diag
from .callbacks import Callback
from .history import History

__all__ = ["fit", "evaluate"]


def fit(model, loss_fn, optimizer, train_loader, epochs, val_loader=None, scheduler=None,
        clip_grad_norm=None, metrics=("accuracy",), callbacks=(), progress=True, monitor=True,
        track_noise_scale=False, on_nonfinite="raise", compile=False):  # noqa: A002
    """Train ``model`` for ``epochs`` passes over ``train_loader`` and return a ``History``.

    Batches are tuples ``(*inputs, target)``: the model gets ``model(*inputs)`` and the loss
    ``loss_fn(output, target)`` (a scalar mean over the batch). ``metrics`` holds 'accuracy'
    (argmax over the last dim for (N, C) outputs, ``output > 0`` for (N,) / (N, 1) logits) and/or
    callables ``fn(output, target) -> float`` (batch mean; recorded under ``fn.__name__``).
    Train loss/accuracy are averaged over the epoch's batches, weighted by batch size, from the
    outputs the training steps computed. Schedulers step once per epoch, except per-batch ones
    (OneCycleLR, CyclicLR, or any with ``per_batch = True``), which step after every batch;
    ReduceLROnPlateau steps with ``val_loss`` (``loss`` without a val_loader).
    ``clip_grad_norm`` clips the total gradient L2 norm (``gc.nn.utils.clip_grad_norm_``);
    ``history.grad_norms`` records the norms before clipping. ``progress`` shows a tqdm bar.

    Gradient diagnostics (``gc.diagnostics``): with ``monitor=True`` (or a ``GradientMonitor``)
    every step's gradients are measured by one multi-tensor kernel call; the history gets
    per-layer series per step and per epoch (``layer_grad_norms``, ``update_ratios`` and their
    ``*_step`` forms, ``history.monitor``), and the first time a layer vanishes, explodes or
    goes non-finite one ``GradientWarning`` names the layer, the step, the value and the usual
    remedies. When the loss or a gradient turns non-finite, the step is re-executed (same
    batch, same generator state) with a finite check after every kernel, and the first op that
    produced a NaN/Inf is reported (op, forward/backward, shapes, module, Python line):
    ``on_nonfinite='raise'`` raises it (``gc.autograd.AnomalyError``), ``'warn'`` warns once and
    goes on, ``'ignore'`` does neither. ``track_noise_scale=True`` records the gradient noise
    scale B_simple (McCandlish et al. 2018) at the end of every epoch in
    ``history.noise_scale`` (extra forward/backward passes; the model, the loader order and the
    generator state are left as they were).

    Under ``mpiexec`` with ``gc.distributed.init()`` called, ``fit`` is collective and needs
    no changes: the loss and metrics (train and val) are averaged over all ranks weighted by
    their sample counts, so every rank logs and decides the same; the progress bar shows on rank
    0 only; a loader's sampler with ``set_epoch`` (``gc.data.DistributedSampler``) gets the
    epoch number before each epoch; a ``DistributedDataParallel`` model's gradient sync is
    finished (``finish_grad_sync``) before the norms are read and the optimizer steps.
    ``compile=True`` runs each step's two halves (zero_grad + forward + loss + backward, then
    clipping + optimizer step) as ``gc.compile`` replays in C++: the same numbers, less Python.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    metric_fns = _metric_fns(metrics)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be gc.train.Callback instances, got "
                            f"{type(cb).__name__}")
    clip = None
    if clip_grad_norm is not None:
        if not clip_grad_norm > 0:
            raise ValueError(f"fit: clip_grad_norm must be > 0, got {clip_grad_norm!r}")
        from ..nn.utils import clip_grad_norm_ as clip
    if on_nonfinite not in ("raise", "warn", "ignore"):
        raise ValueError(f"fit: on_nonfinite must be 'raise', 'warn' or 'ignore', got "
                         f"{on_nonfinite!r}")
    per_batch, plateau = _scheduler_kind(scheduler)
    fwd_bwd, update = _step_functions(model, loss_fn, optimizer, clip, clip_grad_norm, compile)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    history = History()
    history.grad_norms = {n: [] for n, _ in named}
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None
    mon = _diag.make_monitor(model, monitor, steps)
    history.monitor = mon
    watch = _diag.NonfiniteWatch(model, loss_fn, on_nonfinite)
    for cb in callbacks:
        cb.set_context(model, optimizer, history)
        cb.stop_training = False
    bar = _bar(progress and _rank() == 0, epochs * steps if steps is not None else None)
    finish_sync = getattr(model, "finish_grad_sync", None)
    set_epoch = getattr(getattr(train_loader, "sampler", None), "set_epoch", None)
    _call(callbacks, "on_train_begin", {})
    try:
        for epoch in range(epochs):
            _call(callbacks, "on_epoch_begin", epoch, {})
            if set_epoch is not None:
                set_epoch(epoch)
            t0 = time.perf_counter()
            logs = {"lr": float(optimizer.param_groups[0]["lr"])}
            model.train()
            stats, gsum = _Stats(metric_fns), {n: [0.0, 0] for n, _ in named}
            step0 = mon.steps if mon is not None else 0
            for b, batch in enumerate(train_loader):
                *inputs, target = _split(batch)
                rng = watch.before_step()
                out, loss = fwd_bwd(*inputs, target)
                if finish_sync is not None:
                    finish_sync()
                n = len(target)
                lv = stats.add(loss, out, target, n)
                if mon is not None:
                    _diag.warn_issues(mon.record())
                else:
                    _grad_norms(named, gsum)
                if watch.active and (not math.isfinite(lv) or mon is not None and
                                     mon.last_nonfinite()):
                    watch.locate(inputs, target, rng, lv)
                update()
                if per_batch:
                    scheduler.step()
                if bar is not None:
                    bar.update(1)
                _call(callbacks, "on_batch_end", b, {"loss": lv, "size": n})
                if any(cb.stop_training for cb in callbacks):
                    break
            logs.update(stats.result(""))
            if val_loader is not None:
                logs.update(_evaluate(model, loss_fn, val_loader, metric_fns, "val_"))
            if scheduler is not None and not per_batch:
                if plateau:
                    scheduler.step(logs.get("val_loss", logs["loss"]) if val_loader is not None
                                   else logs["loss"])
                else:
                    scheduler.step()
            logs["epoch_time"] = time.perf_counter() - t0
            for k in ("accuracy", "val_loss", "val_accuracy"):
                logs.setdefault(k, None)
            if mon is not None:
                mon.flush()
                gnorm = _diag.epoch_layer_stats(mon, step0, history)
            else:
                gnorm = {n: (s / c if c else float("nan")) for n, (s, c) in gsum.items()}
            if track_noise_scale:
                history.noise_scale.append(_diag.epoch_noise_scale(model, loss_fn, train_loader))
            history._append(logs, gnorm)
            if bar is not None:
                bar.set_postfix_str(_postfix(epoch, logs), refresh=False)
            _call(callbacks, "on_epoch_end", epoch, logs)
            if any(cb.stop_training for cb in callbacks):
                break
    finally:
        if bar is not None:
            bar.close()
    _call(callbacks, "on_train_end", {})
    return history


def evaluate(model, loss_fn, loader, metrics=("accuracy",)):
    """Mean loss and metrics of ``model`` over ``loader`` in eval mode without gradients:
    ``{'loss': ..., 'accuracy': ...}``. The model's train/eval mode is restored afterwards.
    Under ``gc.distributed`` it is collective: the means are over all ranks' samples."""
    return _evaluate(model, loss_fn, loader, _metric_fns(metrics), "")


def _evaluate(model, loss_fn, loader, metric_fns, prefix):
    was_training = getattr(model, "training", True)
    model.eval()
    stats = _Stats(metric_fns)
    try:
        with no_grad():
            for batch in loader:
                *inputs, target = _split(batch)
                out = model(*inputs)
                stats.add(loss_fn(out, target), out, target, len(target))
    finally:
        model.train(was_training)
    return stats.result(prefix)


class _Stats:
    """Batch-size weighted sums of loss and metrics over an epoch."""

    def __init__(self, metric_fns):
        self.fns, self.n, self.loss = metric_fns, 0, 0.0
        self.sums = {k: 0.0 for k in metric_fns}

    def add(self, loss, out, target, n):
        lv = float(loss.item())
        self.loss += lv * n
        self.n += n
        if self.fns:
            with no_grad():
                for k, fn in self.fns.items():
                    self.sums[k] += float(fn(out.detach(), target)) * n
        return lv

    def result(self, prefix):
        from .. import distributed as dist
        if dist.is_initialized() and dist.world_size() > 1:  # sample-weighted over all ranks
            import numpy as np
            from ..tensor import from_numpy
            keys = list(self.sums)
            a = np.array([self.n, self.loss] + [self.sums[k] for k in keys], np.float64)
            dist.allreduce(from_numpy(a), op="sum")   # in place, a shares the tensor's memory
            self.n, self.loss = int(a[0]), float(a[1])
            self.sums = {k: float(a[2 + i]) for i, k in enumerate(keys)}
        if self.n == 0:
            return {prefix + "loss": float("nan"), **{prefix + k: None for k in self.fns}}
        r = {prefix + "loss": self.loss / self.n}
        r.update({prefix + k: s / self.n for k, s in self.sums.items()})
        return r


def accuracy(output, target):
    """Fraction of correct predictions: argmax over the last dim for (N, C) outputs with C > 1,
    ``output > 0`` (logits) for (N,) / (N, 1) outputs. Computed with gc kernels."""
    if output.ndim >= 2 and output.shape[-1] > 1:
        pred = output.argmax(-1)
    else:
        pred = (output.reshape(-1) > 0).long()
        target = target.reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(f"accuracy: predictions of shape {pred.shape} (from output "
                         f"{output.shape}) do not match target shape {target.shape}")
    if target.dtype != pred.dtype:
        target = target.long()
    n = pred.numel()
    return (pred == target).sum().item() / n if n else float("nan")


def _step_functions(model, loss_fn, optimizer, clip, max_norm, compiled):
    """The step's two halves: zero_grad + forward + loss + backward (returns output and loss),
    and clipping + the optimizer step. The monitor and the metrics read values between and
    after them, outside. With ``compiled`` each half is a ``gc.compile`` replay."""
    params = [p for p in model.parameters() if p.requires_grad]

    def fwd_bwd(*args):
        *inputs, target = args
        optimizer.zero_grad()
        out = model(*inputs)
        loss = loss_fn(out, target)
        loss.backward()
        return out, loss, tuple(p.grad for p in params)

    def update(*grads):  # the gradients are arguments so a replay binds the current ones
        if clip is not None:
            clip(params, max_norm)
        optimizer.step()

    if not compiled:
        def step(*args):
            return fwd_bwd(*args)[:2]
        return step, update
    if getattr(model, "finish_grad_sync", None) is not None:
        raise ValueError("fit: compile=True does not combine with DistributedDataParallel "
                         "(its gradient sync is Python on the hooks); use compile=False")
    from ..compile import compile as _compile
    c_fwd_bwd, c_update = _compile(fwd_bwd), _compile(update)

    def compiled_step(*args):
        # A replay does not redo Python attribute assignments: re-attach the gradient tensors
        # of the recorded call (per input shape) to the parameters.
        out, loss, grads = c_fwd_bwd(*args)
        for p, g in zip(params, grads):
            p.grad = g
        return out, loss

    def compiled_update():
        c_update(*[p.grad for p in params])
    return compiled_step, compiled_update


def _metric_fns(metrics):
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    fns = {}
    for m in metrics:
        if m == "accuracy":
            fns["accuracy"] = accuracy
        elif callable(m):
            fns[getattr(m, "__name__", "metric")] = m
        else:
            raise ValueError(f"fit: unknown metric {m!r}; use 'accuracy' or a callable "
                             "fn(output, target) -> float")
    return fns


def _grad_norms(named, gsum):
    """Add each parameter's gradient L2 norm sqrt(sum g^2) (sum of squares on the kernels)."""
    with no_grad():
        for name, p in named:
            g = p.grad
            if g is not None:
                s = gsum[name]
                s[0] += math.sqrt(max((g * g).sum().item(), 0.0))
                s[1] += 1


def _split(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError("fit: each batch must be a tuple (*inputs, target); got "
                         f"{type(batch).__name__}"
                         + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    return batch


def _scheduler_kind(s):
    if s is None:
        return False, False
    names = {c.__name__ for c in type(s).__mro__}
    per_batch = bool(getattr(s, "per_batch", False)) or bool(names & {"OneCycleLR", "CyclicLR"})
    return per_batch, "ReduceLROnPlateau" in names


def _rank():
    from .. import distributed as dist
    return dist.rank() if dist.is_initialized() else 0


def _call(callbacks, hook, *args):
    for cb in callbacks:
        getattr(cb, hook)(*args)


def _bar(progress, total):
    if not progress or total == 0:  # total None: a loader without len(), the bar just counts
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc="fit", unit="step", leave=False, dynamic_ncols=True)


def _postfix(epoch, logs):
    s = f"epoch {epoch + 1} loss {logs['loss']:.4f}"
    if logs.get("accuracy") is not None:
        s += f" acc {logs['accuracy']:.3f}"
    if logs.get("val_loss") is not None:
        s += f" val_loss {logs['val_loss']:.4f}"
    return s
