"""The diagnostics side of ``fit``: the gradient monitor's warnings and per-epoch series, the
non-finite step re-execution, and the per-epoch gradient noise scale (gc.diagnostics)."""
import math
import warnings

import numpy as np

from .. import dispatch as D


def make_monitor(model, monitor, steps_per_epoch=None):
    from ..diagnostics.monitor import GradientMonitor
    if monitor is True:   # short epochs measure the update ratio more often (>= 1 per epoch)
        every = 10 if not steps_per_epoch else max(1, min(10, steps_per_epoch // 2))
        return GradientMonitor(model, ratio_every=every)
    if monitor is False or monitor is None:
        return None
    if isinstance(monitor, GradientMonitor):
        return monitor
    raise TypeError(f"fit: monitor must be True, False or a gc.diagnostics.GradientMonitor, "
                    f"got {type(monitor).__name__}")


def warn_issues(issues):
    """One warning per (layer, kind), the first time it happens; layers flagged at the same
    step for the same reason share one warning."""
    if not issues:
        return
    from ..diagnostics.monitor import REMEDIES, GradientWarning
    by_kind = {}
    for iss in issues:
        by_kind.setdefault(iss.kind, []).append(iss)
    for kind, lst in by_kind.items():
        what = "non-finite values (count)" if kind == "nonfinite" else "gradient L2 norm"
        fmt = "{:.0f}" if kind == "nonfinite" else "{:.3g}"
        layers = "; ".join(f"layer '{i.name}' at step {i.step}: {what} {fmt.format(i.value)}"
                           for i in lst)
        warnings.warn(f"{kind} gradients: {layers}. Usual remedies: {REMEDIES[kind]}.",
                      GradientWarning, stacklevel=3)


def epoch_layer_stats(mon, step0, history):
    """Per-epoch and per-step layer series into ``history``; returns the per-parameter
    epoch-mean gradient norms (``history.grad_norms``)."""
    norm = mon.layer_series("norm", step0)
    ratio = mon.layer_series("ratio", step0)
    for i, name in enumerate(mon.layers):
        history.layer_grad_norms_step.setdefault(name, []).extend(norm[:, i].tolist())
        history.update_ratios_step.setdefault(name, []).extend(ratio[:, i].tolist())
        history.layer_grad_norms.setdefault(name, []).append(_mean(norm[:, i]))
        history.update_ratios.setdefault(name, []).append(_mean(ratio[:, i]))
    if not mon.param_names:
        return {}
    p = np.array(mon._pnorm[step0:]).reshape(-1, len(mon.param_names))
    return {n: _mean(p[:, j]) for j, n in enumerate(mon.param_names)}


def _mean(v):
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


class NonfiniteWatch:
    """Saves the generator state before each step (cheap: two integers); when the step's
    loss or gradients are non-finite, re-executes it under the finite check to name the op."""

    def __init__(self, model, loss_fn, mode):
        self.model, self.loss_fn, self.mode = model, loss_fn, mode
        self.active = mode != "ignore"
        self.steps = 0

    def before_step(self):
        self.steps += 1
        return D.get_rng_state() if self.active else None

    def locate(self, inputs, target, rng, loss_value):
        from ..autograd import AnomalyError
        from ..diagnostics.anomaly import locate_nonfinite
        step = self.steps - 1
        what = "loss" if not math.isfinite(loss_value) else "gradients"
        err = None
        if not hasattr(self.model, "finish_grad_sync"):  # a re-run would start collectives
            params = [p for p in self.model.parameters() if p.requires_grad]
            err = locate_nonfinite(
                lambda: self.loss_fn(self.model(*inputs), target).backward(), rng, params)
        if err is None:
            err = AnomalyError(f"fit: the {what} turned non-finite at step {step} (loss "
                               f"{loss_value:.4g}); re-executing the step did not locate a "
                               "kernel that produced it")
        else:
            err.args = (f"fit: the {what} turned non-finite at step {step} (loss "
                        f"{loss_value:.4g}); re-executing the step found the first "
                        f"non-finite value: {err.args[0]}",)
        err.step = step
        if self.mode == "raise":
            raise err
        from ..diagnostics.monitor import GradientWarning
        warnings.warn(str(err), GradientWarning, stacklevel=3)
        self.active = False   # once per fit


def epoch_noise_scale(model, loss_fn, loader):
    from ..diagnostics.noise import gradient_noise_scale
    return gradient_noise_scale(model, loss_fn, loader, num_estimates=8,
                                batches_per_estimate=4)
