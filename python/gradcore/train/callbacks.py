"""Callbacks for ``gc.train.fit``: hooks called at fixed points of the training loop.

Before training, fit sets ``cb.model``, ``cb.optimizer`` and ``cb.history``. Epochs and batches
are numbered from 0. ``logs`` at the end of an epoch holds ``loss``, ``accuracy``, ``val_loss``,
``val_accuracy``, ``lr``, ``epoch_time`` (None where not measured); at the end of a batch,
``loss`` and ``size``. A callback stops training by setting ``self.stop_training = True``
(checked after every batch and every epoch).
"""
import math

from ..autograd import no_grad
from ..serialization import save

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]


class Callback:
    """Base class: override the hooks you need."""

    stop_training = False

    def set_context(self, model, optimizer, history):
        self.model, self.optimizer, self.history = model, optimizer, history

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class _Monitor(Callback):
    """Tracks the best value of ``logs[monitor]`` ('min' or 'max' is better)."""

    def __init__(self, who, monitor, mode, min_delta=0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
        if not min_delta >= 0:
            raise ValueError(f"{who}: min_delta must be >= 0, got {min_delta!r}")
        self._who, self.monitor, self.mode, self.min_delta = who, monitor, mode, float(min_delta)
        self.best, self.best_epoch = None, None

    def _value(self, logs):
        v = (logs or {}).get(self.monitor)
        if v is None:
            have = sorted(k for k, x in (logs or {}).items() if x is not None)
            raise ValueError(f"{self._who}: monitored quantity {self.monitor!r} is not available "
                             f"(have {have}; 'val_*' entries need a val_loader)")
        return float(v)

    def _improved(self, v):
        if math.isnan(v):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs. With ``restore_best`` the model gets the weights of its best epoch back at the end
    of training (kept as copies in memory, made with the clone kernel)."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0, mode="min",
                 restore_best=True):
        super().__init__("EarlyStopping", monitor, mode, min_delta)
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.patience, self.restore_best = patience, bool(restore_best)

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.stopped_epoch = None, None, None
        self.wait, self._best_state, self._last_epoch = 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        v = self._value(logs)
        self._last_epoch = epoch
        if self._improved(v):
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best:
                with no_grad():
                    self._best_state = {k: t.clone() for k, t in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best and self._best_state is not None \
                and self.best_epoch != self._last_epoch:
            self.model.load_state_dict(self._best_state)


class ModelCheckpoint(_Monitor):
    """Write a checkpoint with ``gc.save`` after an epoch: every epoch, or (``save_best_only``)
    only when ``monitor`` improved. The file holds ``{'model': state_dict, 'optimizer':
    state_dict, 'epoch': epochs completed, 'monitor': name, 'value': value}``, or just the
    model's state dict with ``save_weights_only=True``. ``path`` may contain ``{epoch}`` and
    log names, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.gck"``."""

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="min",
                 save_weights_only=False):
        super().__init__("ModelCheckpoint", monitor, mode)
        self.path, self.save_best_only = path, bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.last_path = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.last_path = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            v = self._value(logs)
            if not self._improved(v):
                return
            self.best, self.best_epoch = v, epoch
        else:
            v = logs.get(self.monitor)
        path = str(self.path)
        if "{" in path:
            path = path.format(epoch=epoch + 1, **{k: x for k, x in logs.items() if x is not None})
        if self.save_weights_only:
            obj = self.model.state_dict()
        else:
            obj = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                   "epoch": epoch + 1, "monitor": self.monitor, "value": v}
        from .. import distributed as dist
        if not dist.is_initialized() or dist.rank() == 0:
            save(obj, path)
        self.last_path = path
