"""gc.optim: torch.optim's optimizers (each step is ONE fused C++ call per parameter group),
LBFGS and nonlinear conjugate gradient for full-batch problems, and lr schedulers."""
from .optimizer import Optimizer
from .sgd import SGD, sgd_
from .adam import Adam, AdamW, adam_, adamw_
from .rmsprop import RMSprop, rmsprop_
from .adagrad import Adagrad, adagrad_
from .lbfgs import LBFGS
from .cg import ConjugateGradient
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS",
           "ConjugateGradient", "lr_scheduler", "sgd_", "adam_", "adamw_", "rmsprop_", "adagrad_"]
