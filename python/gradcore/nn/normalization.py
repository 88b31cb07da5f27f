"""Normalisation layers with torch's constructor arguments, parameter and buffer names, and
train()/eval() behaviour: BatchNorm1d/2d/3d, LayerNorm, GroupNorm (kernels in ops/norm.py)."""
import numbers

from .. import dtypes as _dt
from ..ops.norm import _batch_norm, group_norm, layer_norm
from ..tensor import empty, zeros
from . import init
from .module import Module, Parameter


def _affine_params(m, shape, affine, bias, dtype):
    """weight (ones) and bias (zeros) of ``shape``, or None as torch registers them."""
    if affine:
        m.weight = Parameter(empty(shape, dtype=dtype))
        if bias:
            m.bias = Parameter(empty(shape, dtype=dtype))
        else:
            m.register_parameter("bias", None)
    else:
        m.register_parameter("weight", None)
        m.register_parameter("bias", None)


def _reset_affine(m):
    if m.weight is not None:
        init.ones_(m.weight)
    if m.bias is not None:
        init.zeros_(m.bias)


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d/3d (torch's _NormBase + _BatchNorm).

    train(): normalise with the batch mean and biased variance per channel; with
    track_running_stats, num_batches_tracked += 1 and running_mean/var move towards the batch
    statistics by ``momentum`` (running_var gets the unbiased variance), or by
    1/num_batches_tracked (a cumulative average) when momentum=None.
    eval(): normalise with running_mean/var (with the batch statistics when
    track_running_stats=False, as torch). weight = 1, bias = 0 initially.
    """

    _dims = ()  # accepted input ranks

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = int(num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = _dt.canonical(dtype) or _dt.get_default_dtype()
        _affine_params(self, (self.num_features,), affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", empty(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), dtype=_dt.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            _reset_affine(self)

    def _check_input_dim(self, input):  # noqa: A002
        shape = tuple(input.shape)
        if len(shape) not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got "
                             f"{len(shape)}D input)")
        if shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input with {self.num_features} "
                             f"channels (dim 1), got input of shape {shape}")

    def forward(self, input):  # noqa: A002
        self._check_input_dim(input)
        momentum = self.momentum
        nbt = None
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            nbt = self.num_batches_tracked  # the kernel increments it (and reads it for None)
        elif momentum is None:
            momentum = 0.0
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_buffers = not self.training or self.track_running_stats
        return _batch_norm(input, self.running_mean if use_buffers else None,
                           self.running_var if use_buffers else None, self.weight, self.bias,
                           bn_training, momentum, self.eps, num_batches_tracked=nbt)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input over N (and L), per channel.

    >>> bn = gc.nn.BatchNorm1d(3)
    >>> bn(gc.randn(8, 3)).shape, list(bn.state_dict())
    ((8, 3), ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'])
    """
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input over N, H, W, per channel.

    >>> gc.nn.BatchNorm2d(4)(gc.randn(2, 4, 5, 5)).shape
    (2, 4, 5, 5)
    """
    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) input over N, D, H, W, per channel."""
    _dims = (5,)


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims; weight (ones) and bias (zeros)
    of that shape when elementwise_affine. Same computation in train() and eval().

    >>> ln = gc.nn.LayerNorm(4)
    >>> ln(gc.randn(2, 3, 4)).shape, ln.weight.shape
    ((2, 3, 4), (4,))
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_params(self, self.normalized_shape, elementwise_affine, bias,
                       _dt.canonical(dtype) or _dt.get_default_dtype())
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            _reset_affine(self)

    def forward(self, input):  # noqa: A002
        shape, ns = tuple(input.shape), self.normalized_shape
        if shape[len(shape) - len(ns):] != ns or len(ns) > len(shape):
            raise ValueError(f"LayerNorm: expected input with shape [*, "
                             f"{', '.join(map(str, ns))}] (normalized_shape={ns}), got input of "
                             f"shape {shape}")
        return layer_norm(input, ns, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Splits the C channels of (N, C, *) input into ``num_groups`` groups and normalises each
    (sample, group); per-channel weight (ones) and bias (zeros) when affine.

    >>> gc.nn.GroupNorm(2, 4)(gc.randn(3, 4, 5)).shape
    (3, 4, 5)
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None, *,
                 bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, affine
        _affine_params(self, (self.num_channels,), affine, bias,
                       _dt.canonical(dtype) or _dt.get_default_dtype())
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            _reset_affine(self)

    def forward(self, input):  # noqa: A002
        shape = tuple(input.shape)
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input of shape (N, {self.num_channels}, *), "
                             f"got input of shape {shape}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
