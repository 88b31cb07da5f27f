"""``History``: what ``gc.train.fit`` measured, one entry per epoch, with a text table and a plot."""
import math

__all__ = ["History"]

_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time")
# to_table() columns: name -> (header, format); None values print as "-"
_COLUMNS = {
    "epoch": ("epoch", "{:d}"), "loss": ("train loss", "{:.4f}"),
    "accuracy": ("train acc", "{:.4f}"), "val_loss": ("val loss", "{:.4f}"),
    "val_accuracy": ("val acc", "{:.4f}"), "lr": ("lr", "{:.3g}"),
    "epoch_time": ("seconds", "{:.2f}"),
}


class History:
    """Per-epoch lists ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr`` (the
    learning rate of the epoch's first step), ``epoch_time`` (seconds, validation included) and
    ``grad_norms`` (parameter name -> per-epoch mean L2 norm of that parameter's gradient over
    the epoch's steps). Accuracies are fractions in [0, 1]; entries that were not measured (no
    val_loader, no accuracy metric) are None. Custom metrics live in ``metrics``.
    ``history['loss']`` is ``history.loss``.

    With fit's gradient monitor (the default): ``layer_grad_norms`` / ``update_ratios`` (layer
    -> per-epoch mean gradient L2 norm / update-to-weight ratio |dw|/|w|), the same per step in
    ``layer_grad_norms_step`` / ``update_ratios_step``, and ``monitor`` (the
    ``gc.diagnostics.GradientMonitor``: ``summary()``, ``issues()``). ``noise_scale`` holds one
    ``gc.diagnostics.NoiseScale`` per epoch with ``fit(..., track_noise_scale=True)``."""

    _SERIES = ("layer_grad_norms", "layer_grad_norms_step", "update_ratios",
               "update_ratios_step")

    def __init__(self):
        for k in _KEYS:
            setattr(self, k, [])
        self.grad_norms = {}
        self.metrics = {}
        for k in self._SERIES:
            setattr(self, k, {})
        self.noise_scale = []
        self.monitor = None

    # ---- dict-like access ------------------------------------------------------------------
    def keys(self):
        return list(_KEYS) + ["grad_norms"] + list(self.metrics)

    def __getitem__(self, key):
        if key in _KEYS or key == "grad_norms":
            return getattr(self, key)
        if key in self.metrics:
            return self.metrics[key]
        raise KeyError(f"History: no entry {key!r}; entries are {self.keys()}")

    def __contains__(self, key):
        return key in self.keys()

    def __len__(self):
        return len(self.loss)

    @property
    def epochs(self):
        return len(self.loss)

    def __repr__(self):
        last = {k: getattr(self, k)[-1] for k in _KEYS if getattr(self, k)}
        return f"History(epochs={self.epochs}, last={last})"

    def state_dict(self):
        """Plain lists and dicts (gc.save-able)."""
        d = {k: list(getattr(self, k)) for k in _KEYS}
        d["grad_norms"] = {k: list(v) for k, v in self.grad_norms.items()}
        d["metrics"] = {k: list(v) for k, v in self.metrics.items()}
        for k in self._SERIES:
            if getattr(self, k):
                d[k] = {n: list(v) for n, v in getattr(self, k).items()}
        if self.noise_scale:
            d["noise_scale"] = [float(x.b_simple) for x in self.noise_scale]
        return d

    def _append(self, logs, grad_norms):
        for k in _KEYS:
            getattr(self, k).append(logs.get(k))
        for name, v in grad_norms.items():
            self.grad_norms.setdefault(name, []).append(v)
        for k, v in logs.items():
            if k not in _KEYS:
                self.metrics.setdefault(k, []).append(v)

    # ---- text ------------------------------------------------------------------------------
    def to_table(self, columns=("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                "epoch_time")):
        """Plain-text table, one row per epoch (epochs numbered from 1)."""
        for c in columns:
            if c not in _COLUMNS:
                raise ValueError(f"History.to_table: unknown column {c!r}; choose from "
                                 f"{list(_COLUMNS)}")
        rows = []
        for i in range(self.epochs):
            row = []
            for c in columns:
                v = i + 1 if c == "epoch" else getattr(self, c)[i]
                row.append("-" if v is None else _COLUMNS[c][1].format(v))
            rows.append(row)
        return _format([_COLUMNS[c][0] for c in columns], rows, left=())

    def grad_norm_table(self, vanish_below=1e-7, explode_above=1e3, relative_vanish=1e-3,
                        labels=None):
        """Per layer (parameters grouped by module name): the mean gradient L2 norm in the first
        and last epoch (a layer's norm is sqrt of the sum of its parameters' squared norms) and a
        flag: 'nonfinite', 'exploding' (> explode_above), 'vanishing' (< vanish_below, or less
        than relative_vanish times the largest layer norm of that epoch), else 'ok'. ``labels`` maps a layer name to the text shown for it."""
        layers = {}
        for name, norms in self.grad_norms.items():
            layer, _, _ = name.rpartition(".")
            layers.setdefault(layer or name, []).append(norms)
        if not layers or not self.epochs:
            return "(no gradient norms recorded)"

        def layer_norm(plist, e):
            vals = [p[e] for p in plist if e < len(p) and p[e] is not None]
            return math.sqrt(sum(v * v for v in vals)) if vals else float("nan")

        first = {k: layer_norm(v, 0) for k, v in layers.items()}
        last = {k: layer_norm(v, -1) for k, v in layers.items()}
        rows = []
        for k in layers:
            flags = [_flag(e[k], max(e.values(), key=_finite_or_zero), vanish_below,
                           explode_above, relative_vanish) for e in (first, last)]
            flag = next((f for f in _SEVERITY if f in flags), "ok")
            if self.monitor is not None:   # the monitor's per-step alerts (with hysteresis)
                kinds = {i.kind for i in self.monitor.issues() if i.name == k}
                flag = next((f for f in _SEVERITY if f in kinds), "ok")
            ratio = self.update_ratios.get(k)
            row = [(labels or {}).get(k, k), f"{first[k]:.3e}", f"{last[k]:.3e}"]
            if self.update_ratios:
                row.append("-" if not ratio or not math.isfinite(ratio[-1])
                           else f"{ratio[-1]:.2e}")
            rows.append(row + [flag])
        head = ["layer", "grad norm (epoch 1)", f"grad norm (epoch {self.epochs})"]
        if self.update_ratios:
            head.append(f"update/weight (epoch {self.epochs})")
        return _format(head + ["flag"], rows, left=(0, len(head)))

    # ---- plot ------------------------------------------------------------------------------
    def plot(self, path):
        """Loss, accuracy, learning rate and per-parameter gradient norms per epoch, and (with
        fit's monitor) the gradient flow per step and the update ratios, as a PNG.
        Needs matplotlib (pip install gradcore[plot]); uses the Agg canvas directly, so the
        global pyplot backend is left alone. Returns ``path``."""
        try:
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install gradcore[plot]  "
                              "(or: pip install matplotlib)") from None
        ep = list(range(1, self.epochs + 1))
        flow = bool(self.layer_grad_norms_step)   # fit's monitor: the gradient panels
        fig = Figure(figsize=(10, 10.5 if flow else 7), tight_layout=True)
        FigureCanvasAgg(fig)
        axes = fig.subplots(3 if flow else 2, 2)
        panels = [(axes[0, 0], "loss", ("loss", "val_loss")),
                  (axes[0, 1], "accuracy", ("accuracy", "val_accuracy")),
                  (axes[1, 0], "learning rate", ("lr",))]
        for ax, title, keys in panels:
            for k in keys:
                pts = [(e, v) for e, v in zip(ep, getattr(self, k)) if v is not None]
                if pts:
                    ax.plot(*zip(*pts), marker=".", label=k)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        ax = axes[1, 1]
        for name, v in self.grad_norms.items():
            pts = [(e, x) for e, x in zip(ep, v) if x is not None and x > 0 and math.isfinite(x)]
            if pts:
                ax.semilogy(*zip(*pts), marker=".", label=name)
        ax.set_title("mean gradient L2 norm")
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        if flow:
            from ..diagnostics.plots import draw_gradient_flow, draw_update_ratios
            draw_gradient_flow(axes[2, 0], self)
            draw_update_ratios(axes[2, 1], self.update_ratios_step)
        fig.savefig(path, dpi=100)
        return path


_SEVERITY = ("nonfinite", "exploding", "vanishing")


def _finite_or_zero(v):
    return v if math.isfinite(v) else 0.0


def _flag(v, biggest, vanish_below, explode_above, relative_vanish):
    if not math.isfinite(v):
        return "nonfinite"
    if v > explode_above:
        return "exploding"
    if v < vanish_below or (biggest > 0 and v < relative_vanish * biggest):
        return "vanishing"
    return "ok"


def _format(header, rows, left=(0,)):
    """Columns right-aligned (numbers), except the indices in ``left``."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header)] + [line(r) for r in rows])
