"""``DistributedDataParallel``: average gradients across ranks with bucketed non-blocking
allreduces that start while backward is still running."""
from ..nn.module import Module
from .. import dispatch as D
from ..dispatch import K
from ..optim.optimizer import _MAX_TENSORS
from ..tensor import _empty, _wrap

_GATHER, _SCATTER = 0, 1   # flat_pack modes


class _Bucket:
    """Parameters whose gradients travel in one flat buffer (one Iallreduce)."""
    __slots__ = ("params", "flat", "fired", "req")

    def __init__(self, params):
        self.params = params
        self.flat = _empty((sum(p._data.size for p in params),), params[0].dtype)
        self.fired, self.req = 0, None


class DistributedDataParallel(Module):
    """Wrap ``module`` so that after every ``backward`` each parameter's ``.grad`` holds the
    average of that gradient over all ranks (as ``torch.nn.parallel.DistributedDataParallel``).

    >>> gc.distributed.init()
    >>> model = gc.distributed.DistributedDataParallel(nn.Linear(4, 2))
    >>> model(x).sum().backward()        # p.grad is now the mean over ranks of d(loss_r)/dp

    Construction broadcasts rank 0's parameters and buffers (``broadcast_parameters``, which
    also raises on every rank, naming the first differing parameter, when the models differ).
    ``model.module`` is the wrapped module; state dict keys gain the ``module.`` prefix.

    How: the parameters are split, in reverse registration order (roughly the order backward
    produces their gradients), into buckets of at most ``bucket_mb`` MiB of one dtype (a larger
    parameter gets a bucket of its own). Each
    parameter has a post-accumulate-grad hook; when every parameter of a bucket has its
    gradient, the gradients are packed into the bucket's flat buffer (the ``flat_pack``
    kernel) and a non-blocking ``MPI_Iallreduce`` (sum) starts on it, so communication
    overlaps the rest of backward. Buckets start strictly in bucket order on every rank (a
    ready bucket waits for its predecessors), which MPI requires of non-blocking collectives.
    Later hooks poll the requests (``Testall``) so MPI makes progress during backward.

    Finishing (``finish_grad_sync``): the hook that completes the LAST bucket waits for every
    request, scales each flat sum by 1/world_size (the ``vaxpby`` kernel) and scatters it back
    into the ``.grad`` tensors. So a plain ``loss.backward(); opt.step()`` is correct with no
    extra call: by the time ``backward`` returns, the gradients are averaged. This was chosen over
    an optimizer wrapper because it keeps user code and ``gc.train.fit`` unchanged. The one
    case it cannot see is a parameter that gets no gradient in a backward (unused in the
    forward): its bucket never completes, so call ``model.finish_grad_sync()`` before
    ``opt.step()`` (``fit`` always does; it is a no-op when nothing is pending). Such a
    parameter is averaged as a zero gradient (its ``.grad`` becomes zeros if it was None). A
    forward started while a sync is pending raises, so a forgotten call never trains silently
    on unaveraged gradients.

    Gradient accumulation: every backward syncs (correct, as averaging is linear); inside
    ``with model.no_sync():`` backward passes only accumulate locally.
    """

    def __init__(self, module, bucket_mb=25):
        super().__init__()
        from . import _require, broadcast_parameters
        comm = _require("DistributedDataParallel")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a gc.nn.Module, got "
                            f"{type(module).__name__}")
        if not bucket_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be > 0, got {bucket_mb!r}")
        self.module = module
        broadcast_parameters(module)
        object.__setattr__(self, "_ddp", _Sync(comm, module, float(bucket_mb)))

    def forward(self, *args, **kwargs):
        self._ddp.check_idle()
        return self.module(*args, **kwargs)

    def finish_grad_sync(self):
        """Wait for the pending allreduces and write the averaged gradients into ``.grad``
        (launching any bucket whose parameters got no gradient). No-op when nothing is
        pending. Collective: call it on every rank."""
        self._ddp.finish()

    def no_sync(self):
        """Context manager: backward passes inside it do not communicate (local accumulation);
        the first backward after it averages the accumulated gradients."""
        return _NoSync(self._ddp)

    @property
    def bucket_sizes(self):
        """Elements per bucket, in launch order."""
        return [b.flat.size for b in self._ddp.buckets]


class _NoSync:
    def __init__(self, sync):
        self.sync = sync

    def __enter__(self):
        self.sync.enabled = False

    def __exit__(self, *exc):
        self.sync.enabled = True


class _Sync:
    """The bucket state machine behind one DistributedDataParallel."""

    def __init__(self, comm, module, bucket_mb):
        from . import _MPI
        self.MPI, self.comm, self.enabled = _MPI, comm, True
        params = [p for p in module.parameters() if p.requires_grad]
        cap = int(bucket_mb * 2 ** 20)
        self.buckets, current, nbytes = [], [], 0
        for p in reversed(params):   # a bucket closes before the parameter that would
            # overflow it, so a parameter larger than the cap travels alone
            if current and (p.dtype != current[0].dtype or nbytes + p._data.nbytes > cap
                            or len(current) == _MAX_TENSORS - 1):
                self.buckets.append(_Bucket(current))
                current, nbytes = [], 0
            current.append(p)
            nbytes += p._data.nbytes
        if current:
            self.buckets.append(_Bucket(current))
        self.next = 0   # the next bucket to launch
        self.handles = []
        for b in self.buckets:
            for p in b.params:
                self.handles.append(p.register_post_accumulate_grad_hook(
                    lambda _p, b=b: self.on_grad(b)))

    def on_grad(self, bucket):
        if not self.enabled:
            return
        bucket.fired += 1
        if bucket.fired < len(bucket.params):
            if self.next:
                self.poll()
            return
        while self.next < len(self.buckets) and \
                self.buckets[self.next].fired >= len(self.buckets[self.next].params):
            self.launch(self.buckets[self.next])
        if self.next == len(self.buckets):
            self.finish()

    def launch(self, b):
        arrays = []
        for p in b.params:
            if p.grad is None:   # no gradient this backward: contributes zeros
                g = _empty(p.shape, p.dtype)
                D.run(K.fill, g, 0.0)
                p.grad = _wrap(g)
            arrays.append(p.grad._data)
        D.run(K.flat_pack, b.flat, *arrays, _GATHER, 1.0)
        b.req = self.comm.Iallreduce(self.MPI.IN_PLACE, b.flat, op=self.MPI.SUM)
        self.next += 1

    def poll(self):
        reqs = [b.req for b in self.buckets[:self.next] if b.req is not None]
        if reqs:
            self.MPI.Request.Testall(reqs)   # drives MPI's progress engine; no wait

    def finish(self):
        if self.next == 0 and not any(b.fired for b in self.buckets):
            return   # nothing pending
        while self.next < len(self.buckets):
            self.launch(self.buckets[self.next])
        self.MPI.Request.Waitall([b.req for b in self.buckets])
        inv = 1.0 / self.comm.Get_size()
        for b in self.buckets:
            D.run(K.vaxpby, b.flat, b.flat, inv, 0.0)
            D.run(K.flat_pack, b.flat, *[p.grad._data for p in b.params], _SCATTER, 1.0)
            b.fired, b.req = 0, None
        self.next = 0

    def check_idle(self):
        if self.next or any(b.fired for b in self.buckets):
            raise RuntimeError(
                "DistributedDataParallel: the previous backward's gradient sync is still "
                "pending (some parameters got no gradient, so not every bucket was ready). "
                "Call model.finish_grad_sync() after backward and before optimizer.step().")
