"""Differentiable ops, one module per kernel family (mirrors csrc/kernels/). Importing this
package declares every op's public names in ``public.EXPORTS``."""
from . import public  # noqa: F401
from . import (activation, conv, dropout, elementwise, embedding, linear, loss, matmul,  # noqa: F401
               norm, pool, reduce, rnn, shape, softmax)
from . import integer, scan, more, more_shape, inplace  # noqa: F401,E402  (parity ops; in-place twins last)

inplace.declare_twins()
