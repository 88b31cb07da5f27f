"""Loss landscapes: the loss on a plane (or a line) through the current weights, and along the
segment between two models.

``loss_landscape`` (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss Landscape of
Neural Nets"): L(θ + α·δ + β·η) on a grid of α, β in [-span, span], with δ, η random Gaussian
directions. Filter normalisation (``directions='filter'``) rescales each filter of a direction
(a row of a Linear weight, an output channel of a conv weight: index 0 of the parameter) to the
norm of the same filter of θ, d_i <- d_i · ‖θ_i‖ / ‖d_i‖, so a unit step moves every filter by
its own scale (a ReLU net is invariant to rescaling a filter, so an unnormalised direction says
more about the weights' scale than about the loss); 1-D parameters (biases, norm scales) get a
zero direction, as the paper's ``ignore='biasbn'``.

``interpolate`` (Goodfellow, Vinyals & Saxe 2015, "Qualitatively characterizing neural network
optimization problems"): L((1-α)·θa + α·θb) for α in [0, 1] (or any ``alphas``).

Evaluation runs under ``no_grad`` in eval mode; the weights are written in place and put back
bit-identically afterwards (also when the loss function raises), as is every module's mode.
"""
import time

import numpy as np

from ..autograd import no_grad
from ._state import Snapshot, as_input, model_dtype, per_parameter, split_batch

__all__ = ["Landscape", "loss_landscape", "interpolate"]


class Landscape:
    """``alphas``, ``betas`` (grid coordinates; 0 is the current weights; ``betas`` is None
    for ``dims=1``), ``losses`` (float64, ``[len(alphas), len(betas)]`` or ``[len(alphas)]``),
    ``center_loss`` (the loss at the current weights), ``directions`` (per direction, a list
    of arrays per parameter); ``plot(path, kind)`` draws it (``plot_landscape``)."""

    def __init__(self, alphas, betas, losses, center_loss, directions, kind):
        self.alphas, self.betas, self.losses = alphas, betas, losses
        self.center_loss, self.directions, self.kind = center_loss, directions, kind

    @property
    def dims(self):
        return self.losses.ndim

    def plot(self, path, kind="contour"):
        from .plots import plot_landscape
        return plot_landscape(self, path, kind)

    def __repr__(self):
        shape = "x".join(str(n) for n in self.losses.shape)
        return (f"Landscape({shape} grid, directions={self.kind!r}, center_loss="
                f"{self.center_loss:.4g}, min={np.nanmin(self.losses):.4g}, "
                f"max={np.nanmax(self.losses):.4g})")


def loss_landscape(model, loss_fn, batch, steps=21, span=1.0, directions="filter", dims=2,
                   seed=0, progress=None):
    """The loss ``loss_fn(model(x), y)`` on ``batch = (x, y)`` over a ``steps`` x ``steps``
    grid (``steps`` points for ``dims=1``) of α, β in [-span, span] along two random directions
    (Li et al. 2018). ``directions``: 'filter' (filter-normalised, the default), 'random'
    (plain Gaussian over every parameter) or a tuple of ``dims`` directions, each a flat array
    over ``model.parameters()`` or a list of arrays per parameter. ``progress``: a tqdm bar
    (None: only when the grid is estimated to take more than 3 s). Returns a ``Landscape``."""
    fname = "loss_landscape"
    if dims not in (1, 2):
        raise ValueError(f"{fname}: dims must be 1 or 2, got {dims!r}")
    if int(steps) != steps or steps < 2:
        raise ValueError(f"{fname}: steps must be an int >= 2, got {steps!r}")
    if not span > 0:
        raise ValueError(f"{fname}: span must be > 0, got {span!r}")
    params = list(model.parameters())
    dirs = _directions(params, directions, dims, seed, fname)
    inputs, target = _batch(model, batch, fname)
    grid = np.linspace(-span, span, int(steps))
    grid[np.abs(grid) < 1e-12 * span] = 0.0     # the centre exactly on the grid (odd steps)
    shape = (len(grid),) * dims
    losses = np.empty(shape)
    snap = Snapshot(model)
    try:
        model.eval()
        t0 = time.perf_counter()
        center = _loss(model, loss_fn, inputs, target, fname)
        bar = _bar(progress, losses.size, time.perf_counter() - t0, fname)
        base = [s for _, s in snap.tensors[:len(params)]]
        moving = [i for i, p in enumerate(params) if any(np.any(d[i]) for d in dirs)]

        def points():  # writes the weights of each grid point, yields its index
            for ia, a in enumerate(grid):
                row = {i: base[i] + (a * dirs[0][i]).astype(base[i].dtype) for i in moving}
                for ib, b in enumerate(grid if dims == 2 else (None,)):
                    for i in moving:
                        np.copyto(params[i]._data, row[i] if b is None else
                                  row[i] + (b * dirs[1][i]).astype(row[i].dtype))
                    yield (ia,) if b is None else (ia, ib)

        _sweep(model, loss_fn, inputs, target, fname, points(), losses, bar)
    finally:
        snap.restore()
    return Landscape(grid, grid.copy() if dims == 2 else None, losses, center, dirs,
                     directions if isinstance(directions, str) else "given")


def interpolate(model_a, model_b, loss_fn, batch, steps=21, alphas=None, progress=None):
    """``(alphas, losses)``: the loss of (1-α)·θa + α·θb for ``steps`` values of α evenly in
    [0, 1], or the given ``alphas`` (e.g. ``np.linspace(-0.5, 1.5, 41)`` to look past the
    ends). Parameters and floating buffers (batch-norm statistics) are interpolated; the
    architecture is model_a's. Both models are left as they were (values and modes)."""
    fname = "interpolate"
    if alphas is None:
        if int(steps) != steps or steps < 2:
            raise ValueError(f"{fname}: steps must be an int >= 2, got {steps!r}")
        alphas = np.linspace(0.0, 1.0, int(steps))
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
    ta, tb = _float_state(model_a), _float_state(model_b)
    if [(n, t.shape) for n, t in ta] != [(n, t.shape) for n, t in tb]:
        raise ValueError(f"{fname}: model_a and model_b differ in parameters or buffers: "
                         f"{[(n, t.shape) for n, t in ta]} vs {[(n, t.shape) for n, t in tb]}")
    inputs, target = _batch(model_a, batch, fname)
    fb = [t._data.copy() for _, t in tb]  # copies first: model_b may be model_a
    snap = Snapshot(model_a)
    fa = [t._data.copy() for _, t in ta]
    losses = np.empty(len(alphas))
    try:
        model_a.eval()

        def points():
            for j, a in enumerate(alphas):
                for (_, t), xa, xb in zip(ta, fa, fb):
                    # (1-a)·θa + a·θb gives θa at a = 0 and θb at a = 1 exactly
                    np.copyto(t._data, ((1.0 - a) * xa + a * xb).astype(xa.dtype))
                yield j

        _sweep(model_a, loss_fn, inputs, target, fname, points(), losses,
               _bar(progress, len(alphas), 0.0, fname))
    finally:
        snap.restore()
    return alphas, losses


def _sweep(model, loss_fn, inputs, target, fname, points, losses, bar):
    """losses[idx] = the loss after ``points`` wrote the weights of point idx."""
    for idx in points:
        losses[idx] = _loss(model, loss_fn, inputs, target, fname)
        bar.update()
    bar.close()


def _float_state(model):
    """(name, tensor) of every parameter and floating buffer, in state-dict order."""
    out = list(model.named_parameters())
    out += [(n, b) for n, b in model.named_buffers() if b is not None and b._data.dtype.kind == "f"]
    return out


def _batch(model, batch, fname):
    inputs, target = split_batch(batch, fname)
    dt = model_dtype(model)
    return tuple(as_input(a, dt) for a in inputs), as_input(target, dt)


def _loss(model, loss_fn, inputs, target, fname):
    with no_grad():
        out = loss_fn(model(*inputs), target)
    if out.numel() != 1:
        raise ValueError(f"{fname}: loss_fn must return a scalar, got shape {tuple(out.shape)}")
    return float(out.item())


def _directions(params, directions, dims, seed, fname):
    """``dims`` directions, each a list of arrays per parameter (the parameters' dtypes)."""
    shapes = [p.shape for p in params]
    if isinstance(directions, str):
        if directions not in ("filter", "random"):
            raise ValueError(f"{fname}: directions must be 'filter', 'random' or a tuple of "
                             f"{dims} directions, got {directions!r}")
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(dims):
            d = [rng.standard_normal(s).astype(p._data.dtype) for p, s in zip(params, shapes)]
            out.append(d if directions == "random" else filter_normalize(d, params))
        return out
    if not isinstance(directions, (tuple, list)) or len(directions) != dims:
        raise ValueError(f"{fname}: directions must be 'filter', 'random' or a tuple of {dims} "
                         f"directions, got {type(directions).__name__}")
    return [[a.astype(p._data.dtype) for a, p in
             zip(per_parameter(d, shapes, fname, f"directions[{j}]")[0], params)]
            for j, d in enumerate(directions)]


def filter_normalize(direction, params):
    """Li et al.'s filter normalisation of ``direction`` (a list of arrays per parameter):
    filter i of a parameter with 2 or more dims (row i of a Linear weight, output channel i of
    a conv weight) becomes d_i · ‖θ_i‖ / ‖d_i‖; 1-D parameters get zeros."""
    out = []
    for d, p in zip(direction, params):
        w = p._data
        if w.ndim < 2:
            out.append(np.zeros_like(d))
            continue
        d2 = d.reshape(d.shape[0], -1).astype(np.float64)
        wn = np.linalg.norm(w.reshape(w.shape[0], -1).astype(np.float64), axis=1)
        dn = np.linalg.norm(d2, axis=1)
        scale = np.divide(wn, dn, out=np.zeros_like(wn), where=dn > 0)
        out.append((d2 * scale[:, None]).reshape(d.shape).astype(d.dtype))
    return out


class _NoBar:
    def update(self):
        pass

    def close(self):
        pass


def _bar(progress, total, first_seconds, fname):
    """A tqdm bar when asked for, or (progress None) when the run is estimated above 3 s."""
    if progress is False or (progress is None and first_seconds * total < 3.0):
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=fname, unit="eval", leave=False, dynamic_ncols=True)
