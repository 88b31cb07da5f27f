"""Dropout: inverted dropout while training, identity in eval()."""
from . import functional as F
from .module import Module


class Dropout(Module):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) in train();
    identity in eval(). The mask comes from the global generator (``gc.manual_seed``).

    >>> d = gc.nn.Dropout(0.5).eval()
    >>> d(gc.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):  # noqa: A002
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
