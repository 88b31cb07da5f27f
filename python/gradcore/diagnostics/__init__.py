"""``gc.diagnostics``: what the gradients are doing while a model trains.

- ``GradientMonitor``: per-parameter / per-layer gradient norms, max |g|, NaN/Inf counts and
  update-to-weight ratios from one multi-tensor kernel call per step; alerts with hysteresis.
- ``activation_gradients``: saturation and dead units of each activation layer on real data.
- ``detect_anomaly`` / ``locate_nonfinite``: the first op that produced a NaN or Inf.
- ``gradient_noise_scale``: B_simple = tr(Sigma)/|G|^2 (McCandlish et al. 2018).
- ``lr_find``: the learning-rate range test (Smith 2017), model and optimizer restored.
- ``loss_landscape`` / ``interpolate``: the loss on a filter-normalised random plane through
  the weights (Li et al. 2018) and along the segment between two models (Goodfellow et al. 2015).
- ``hessian_vector_product`` / ``hessian_eigenvalues``: curvature from float64 central
  differences of gradients, extremes by Lanczos (a negative bottom eigenvalue: a saddle).
- ``plot_gradient_flow``, ``plot_lr_find``, ``plot_landscape``: PNGs (matplotlib, imported
  lazily).
``gc.train.fit`` runs the monitor by default (``monitor=True``).
"""
from .monitor import GradientMonitor, GradientWarning, Issue
from ..autograd import AnomalyError, detect_anomaly
from .anomaly import locate_nonfinite
from .activations import activation_gradients
from .noise import NoiseScale, gradient_noise_scale
from .lr_find import LRFinderResult, lr_find
from .landscape import Landscape, loss_landscape, interpolate
from .curvature import Eigenvalues, hessian_vector_product, hessian_eigenvalues
from .plots import plot_gradient_flow, plot_lr_find, plot_landscape

__all__ = ["GradientMonitor", "Issue", "AnomalyError", "detect_anomaly", "locate_nonfinite",
           "activation_gradients", "NoiseScale", "gradient_noise_scale", "LRFinderResult",
           "lr_find", "plot_gradient_flow", "plot_lr_find", "GradientWarning", "Landscape",
           "loss_landscape", "interpolate", "Eigenvalues", "hessian_vector_product",
           "hessian_eigenvalues", "plot_landscape"]
