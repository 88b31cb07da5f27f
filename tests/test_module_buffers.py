"""Module completeness: buffers (registration rules, persistence, state_dict / strict
load_state_dict, dtype conversion), apply, requires_grad_, Unflatten, and gc.save/gc.load of
a state dict holding an int64 0-d buffer. Expected keys, orders and messages are torch 2.x's
for the same module, written out."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.body = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, affine=False))
        self.register_buffer("scale", gc.ones(()))
        self.register_buffer("cache", gc.zeros(2), persistent=False)

    def forward(self, x):
        return self.body(self.bn(x)) * self.scale


TORCH_STATE = [("scale", (), "float32"), ("bn.weight", (3,), "float32"),
               ("bn.bias", (3,), "float32"), ("bn.running_mean", (3,), "float32"),
               ("bn.running_var", (3,), "float32"), ("bn.num_batches_tracked", (), "int64"),
               ("body.0.weight", (3, 3), "float32"), ("body.0.bias", (3,), "float32"),
               ("body.1.running_mean", (3,), "float32"), ("body.1.running_var", (3,), "float32"),
               ("body.1.num_batches_tracked", (), "int64")]
TORCH_BUFFERS = ["scale", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                 "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked"]


def _items(sd):
    return [(k, tuple(v.shape), str(np.asarray(v.numpy() if isinstance(v, gc.Tensor) else v).dtype))
            for k, v in sd.items()]


def test_state_dict_holds_parameters_and_persistent_buffers_in_torchs_order():
    net = Net()
    assert _items(net.state_dict()) == TORCH_STATE
    assert [k for k, _ in net.named_buffers()] == TORCH_BUFFERS
    assert len(list(net.buffers())) == len(TORCH_BUFFERS)
    assert [k for k, _ in net.named_buffers(recurse=False)] == ["scale", "cache"]
    assert [k for k, _ in net.named_buffers(prefix="m")][:2] == ["m.scale", "m.cache"]


def test_buffers_are_not_parameters_and_get_no_gradients():
    net = Net()
    assert len(list(net.parameters())) == 4
    assert not any(b.requires_grad for b in net.buffers())
    net(gc.randn(4, 3)).sum().backward()
    assert all(b.grad is None for b in net.buffers())


def test_buffer_registration_rules_match_torch():
    m = nn.Linear(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", gc.zeros(1))
    with pytest.raises(KeyError, match="name can.*t contain"):
        m.register_buffer("a.b", gc.zeros(1))
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        m.register_buffer("forward", gc.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'float' object to buffer 'c'"):
        m.register_buffer("c", 3.0)
    net = Net()
    with pytest.raises(KeyError, match="attribute 'bn' already exists"):
        net.register_buffer("bn", gc.zeros(1))
    with pytest.raises(KeyError, match="attribute 'scale' already exists"):
        net.register_parameter("scale", nn.Parameter(gc.zeros(1)))
    m.register_parameter("weight", nn.Parameter(gc.zeros(1)))   # re-registering: allowed
    net.register_buffer("scale", gc.full((), 2.0))               # likewise
    assert net.scale.item() == 2.0


def test_buffer_assignment_none_and_persistence_toggle():
    net = Net()
    net.scale = gc.full((), 3.0)             # assignment replaces the registered buffer
    assert net.state_dict()["scale"].item() == 3.0
    net.cache = None
    assert "cache" not in dict(net.named_buffers())
    with pytest.raises(TypeError, match="cannot assign 'str' as buffer 'scale'"):
        net.scale = "x"
    net.register_buffer("cache", gc.zeros(2))   # now persistent
    assert "cache" in net.state_dict()
    net.register_buffer("cache", gc.zeros(2), persistent=False)
    assert "cache" not in net.state_dict()
    del net.cache
    assert "cache" not in dict(net.named_buffers())


def test_load_state_dict_loads_buffers_and_reports_bad_keys_at_once():
    src, dst = Net(), Net()
    src.train()(gc.randn(8, 3))
    nbt = dst.bn.num_batches_tracked
    dst.load_state_dict(src.state_dict())
    assert dst.bn.num_batches_tracked is nbt and nbt.item() == 1   # copied in place
    np.testing.assert_array_equal(dst.bn.running_var.numpy(), src.bn.running_var.numpy())
    sd = {k: v.numpy() for k, v in src.state_dict().items()}
    sd["bn.running_mean"] = np.zeros(4, np.float32)
    del sd["body.1.running_var"]
    sd["zzz"] = np.zeros(1)
    keep = dst.bn.running_mean.numpy().copy()
    with pytest.raises(RuntimeError) as ei:
        dst.load_state_dict(sd)
    assert str(ei.value) == (
        'Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: '
        '"body.1.running_var". \n\tUnexpected key(s) in state_dict: "zzz". \n\tsize mismatch '
        'for bn.running_mean: copying a param with shape (4,) from checkpoint, the shape in '
        'current model is (3,).')
    np.testing.assert_array_equal(dst.bn.running_mean.numpy(), keep)
    del sd["bn.running_mean"], sd["zzz"]
    res = dst.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["bn.running_mean", "body.1.running_var"] and not res.unexpected_keys


def test_non_persistent_buffer_is_neither_saved_nor_expected():
    net = Net()
    sd = net.state_dict()
    assert "cache" not in sd
    net.load_state_dict(sd)   # strict: no missing "cache"
    with pytest.raises(RuntimeError, match='Unexpected key.*"cache"'):
        net.load_state_dict({**sd, "cache": np.zeros(2, np.float32)})


@pytest.mark.parametrize("convert", [lambda m: m.double(), lambda m: m.to(gc.float64),
                                     lambda m: m.to("float64"), lambda m: m.to("cpu", gc.float64)])
def test_dtype_conversion_casts_float_buffers_only(convert):
    net = Net()
    net.train()(gc.randn(5, 3))
    w, rm = net.bn.weight, net.bn.running_mean
    assert convert(net) is net
    assert net.bn.weight is w and w.dtype == gc.float64
    assert net.bn.running_mean is rm and rm.dtype == gc.float64
    assert net.scale.dtype == gc.float64 and net.cache.dtype == gc.float64
    assert net.bn.num_batches_tracked.dtype == gc.int64 and net.bn.num_batches_tracked.item() == 1
    net(gc.randn(5, 3, dtype=gc.float64))   # runs in float64 with the converted buffers
    assert net.bn.num_batches_tracked.item() == 2
    net.float()
    assert net.bn.running_var.dtype == gc.float32 and net.bn.num_batches_tracked.dtype == gc.int64


def test_apply_visits_children_first_then_self_and_returns_self():
    net = Net()
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["BatchNorm1d", "Linear", "BatchNorm1d", "Sequential", "Net"]

    def init(m):
        if isinstance(m, nn.BatchNorm1d) and m.weight is not None:
            nn.init.constant_(m.weight, 0.5)
    net.apply(init)
    np.testing.assert_array_equal(net.bn.weight.detach().numpy(), [0.5] * 3)


def test_requires_grad_on_a_module():
    net = Net()
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    assert net(gc.randn(4, 3)).requires_grad is False
    net.bn.requires_grad_()
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["bn.weight", "bn.bias"]


def test_save_load_round_trips_a_state_dict_with_an_int64_0d_buffer(tmp_path):
    src = Net()
    for _ in range(3):
        src(gc.randn(6, 3))
    path = tmp_path / "bn.gc"
    gc.save(src.state_dict(), path)
    sd = gc.load(path)
    assert _items(sd) == TORCH_STATE
    nbt = sd["bn.num_batches_tracked"]
    assert isinstance(nbt, gc.Tensor) and nbt.shape == () and nbt.dtype == gc.int64
    assert nbt.item() == 3
    dst = Net()
    dst.load_state_dict(sd)
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    dst.eval()
    src.eval()
    x = gc.randn(2, 3)
    np.testing.assert_array_equal(dst(x).detach().numpy(), src(x).detach().numpy())


# ---- Unflatten -----------------------------------------------------------------------------
def test_unflatten_forward_backward_and_repr():
    u = nn.Unflatten(1, (2, 3))
    assert repr(u) == "Unflatten(dim=1, unflattened_size=(2, 3))"
    x = gc.randn(4, 6, requires_grad=True)
    y = u(x)
    assert y.shape == (4, 2, 3)
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy().reshape(4, 2, 3))
    (y * gc.arange(6.0).reshape(1, 2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile(np.arange(6.0), (4, 1)))
    assert nn.Unflatten(-1, (2, -1))(gc.zeros(3, 6)).shape == (3, 2, 3)
    assert nn.Unflatten(0, [1, 3])(gc.zeros(3, 2)).shape == (1, 3, 2)
    seq = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 2, 2)))
    assert seq(gc.zeros(5, 2, 2, 2)).shape == (5, 2, 2, 2)


def test_unflatten_errors_as_torch():
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found "
                                        "element of type float at pos 0"):
        nn.Unflatten(1, (2.0, 3))
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found "
                                        "type int"):
        nn.Unflatten(1, 6)
    with pytest.raises(ValueError, match=r"provided sizes \[4, 2\] don't multiply up to the size "
                                         r"of dim 1 \(6\)"):
        nn.Unflatten(1, (4, 2))(gc.zeros(4, 6))
    with pytest.raises(ValueError, match="don't multiply up"):
        nn.Unflatten(1, (-1, -1))(gc.zeros(4, 6))
    with pytest.raises(IndexError, match="dim 3 is out of range"):
        nn.Unflatten(3, (2, 3))(gc.zeros(4, 6))


def test_torch_buffers_state_dict_loads_when_torch_is_installed():
    torch = pytest.importorskip("torch", reason="torch is not installed: optional check")
    t = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    t(torch.randn(4, 3))
    g = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    assert _items(g.state_dict()) == [(k, tuple(v.shape), str(v.numpy().dtype))
                                      for k, v in t.state_dict().items()]
    g.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    assert g[1].num_batches_tracked.item() == 1
