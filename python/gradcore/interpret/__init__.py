"""``gc.interpret``: which parts of an input a model's prediction depends on.

- ``saliency``: |∂ score / ∂ x| (Simonyan et al. 2014).
- ``integrated_gradients``: path integral of gradients from a baseline, Gauss-Legendre
  quadrature, completeness residual as ``delta`` (Sundararajan et al. 2017).
- ``smoothgrad``: gradients averaged over noisy copies of the input (Smilkov et al. 2017).
- ``grad_cam``: a conv layer's activations weighted by their pooled gradients, ReLU,
  upsampled to the input (Selvaraju et al. 2017).
- ``plot_attribution``: inputs and their attribution heat maps in one PNG (matplotlib, imported
  when called).
The score is the raw model output for the target class; models run in eval mode and are left
exactly as they were. See docs/understanding.md.
"""
from .attribution import saliency, integrated_gradients, smoothgrad, grad_cam
from .plots import plot_attribution

__all__ = ["saliency", "integrated_gradients", "smoothgrad", "grad_cam", "plot_attribution"]
