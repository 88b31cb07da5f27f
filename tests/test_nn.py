"""gc.nn modules: registration, traversal names/order, state dicts (keys and shapes as torch,
hard-coded), strict loading, hooks, train/eval, dtype conversion, layers' forward/backward."""
import collections
import copy

import numpy as np
import pytest

import gradcore as gc
import gradcore.nn as nn
import gradcore.nn.functional as F
from gradcore.autograd import gradcheck


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)] + [nn.Tanh()])

    def forward(self, x):
        x = self.act(self.fc(x))
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, padding_idx=0)
        self.block = Block()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 3, bias=False),
                                  nn.LeakyReLU(0.1), nn.Softmax(dim=1))
        self.loss = nn.CrossEntropyLoss(weight=gc.ones(3))
        self.register_buffer("steps", gc.zeros((), dtype=gc.int64))
        self.register_buffer("scratch", gc.zeros(2), persistent=False)

    def forward(self, idx):
        return self.head(self.block(self.emb(idx)))


# As torch 2.x prints them for the same module: a module's own parameters, then its persistent
# buffers, then its children's entries, depth first.
TORCH_STATE = [("steps", ()), ("emb.weight", (10, 4)), ("block.fc.weight", (4, 4)),
               ("block.fc.bias", (4,)), ("block.layers.0.weight", (4, 4)),
               ("block.layers.0.bias", (4,)), ("block.layers.1.weight", (4, 4)),
               ("block.layers.1.bias", (4,)), ("block.layers.2.weight", (4, 4)),
               ("block.layers.2.bias", (4,)), ("head.2.weight", (3, 8)), ("loss.weight", (3,))]
TORCH_MODULES = ["", "emb", "block", "block.fc", "block.act", "block.layers", "block.layers.0",
                 "block.layers.1", "block.layers.2", "block.layers.3", "head", "head.0",
                 "head.1", "head.2", "head.3", "head.4", "loss"]
TORCH_REPR = """Net(
  (emb): Embedding(10, 4, padding_idx=0)
  (block): Block(
    (fc): Linear(in_features=4, out_features=4, bias=True)
    (act): GELU(approximate='none')
    (layers): ModuleList(
      (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)
      (3): Tanh()
    )
  )
  (head): Sequential(
    (0): Flatten(start_dim=1, end_dim=-1)
    (1): Dropout(p=0.2, inplace=False)
    (2): Linear(in_features=8, out_features=3, bias=False)
    (3): LeakyReLU(negative_slope=0.1)
    (4): Softmax(dim=1)
  )
  (loss): CrossEntropyLoss()
)"""


def test_state_dict_keys_shapes_modules_and_repr_match_torch():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, collections.OrderedDict)
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == TORCH_STATE
    assert [k for k, _ in net.named_modules()] == TORCH_MODULES
    assert [k for k, _ in net.named_parameters()] == [k for k, _ in TORCH_STATE
                                                      if k not in ("steps", "loss.weight")]
    assert [k for k, _ in net.named_children()] == ["emb", "block", "head", "loss"]
    assert [k for k, _ in net.named_buffers()] == ["steps", "scratch", "loss.weight"]
    assert repr(net) == TORCH_REPR
    assert len(list(net.parameters())) == 10 and len(list(net.modules())) == 17


def test_state_dict_is_detached_and_shares_storage():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    assert not sd["weight"].requires_grad and type(sd["weight"]) is gc.Tensor
    assert np.shares_memory(sd["weight"].numpy(), lin.weight.detach().numpy())
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def test_load_state_dict_copies_into_existing_storage_from_numpy_and_tensors():
    src, dst = Net(), Net()
    w = dst.block.fc.weight
    before = w.detach().numpy()
    res = dst.load_state_dict({k: v.numpy().copy() for k, v in src.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert dst.block.fc.weight is w and np.shares_memory(before, w.detach().numpy())
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    lin = nn.Linear(2, 2).double()
    lin.load_state_dict({"weight": gc.ones(2, 2), "bias": [1.0, 2.0]})  # float32 -> float64
    assert lin.weight.dtype == gc.float64 and lin.bias.detach().tolist() == [1.0, 2.0]


def test_load_state_dict_strict_reports_every_bad_key_at_once_and_copies_nothing():
    lin = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    keep = lin[0].weight.detach().numpy().copy()
    bad = {"0.weight": np.zeros((3, 3)), "extra": np.zeros(1), "2.bias": np.zeros(4),
           "0.bias": np.zeros(7)}
    with pytest.raises(RuntimeError) as ei:
        lin.load_state_dict(bad)
    msg = str(ei.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.weight".' in msg
    assert 'Unexpected key(s) in state_dict: "extra".' in msg
    assert ("size mismatch for 0.weight: copying a param with shape (3, 3) from checkpoint, "
            "the shape in current model is (7, 5).") in msg
    assert "size mismatch for 2.bias" in msg
    np.testing.assert_array_equal(lin[0].weight.detach().numpy(), keep)
    assert np.all(lin[0].bias.detach().numpy() != 0)


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    lin = nn.Linear(3, 2)
    res = lin.load_state_dict({"weight": np.ones((2, 3), np.float32), "foo": np.ones(1)},
                              strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["foo"]
    assert np.all(lin.weight.detach().numpy() == 1)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        lin.load_state_dict({"weight": np.ones((3, 3))}, strict=False)


def test_registration_rules():
    m = nn.Module()
    m.p = nn.Parameter(gc.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.plain = gc.zeros(3)  # a plain tensor attribute is neither parameter nor buffer
    assert list(m._parameters) == ["p"] and list(m._modules) == ["sub"]
    assert [k for k, _ in m.named_parameters()] == ["p", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="parameter 'p'"):
        m.p = gc.zeros(2)
    m.p = None
    assert [k for k, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    del m.sub
    assert list(m.named_parameters()) == []
    with pytest.raises(KeyError):
        m.register_buffer("a.b", gc.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", gc.zeros(1))
    with pytest.raises(TypeError):
        m.register_buffer("b", 3.0)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gc.zeros(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_shared_parameters_listed_once_state_dict_lists_both():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [k for k, _ in seq.named_modules()] == ["", "0", "1"]


def test_parameter_is_a_leaf_tensor_and_works_in_ops():
    p = nn.Parameter(gc.tensor([1.0, 2.0]))
    assert isinstance(p, gc.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    y = (p * p).sum() + gc.relu(p).sum() + p[0] + (p @ p)
    y.backward()
    np.testing.assert_allclose(p.grad.numpy(), [6.0, 9.0])  # 4p + 1 + [1, 0]
    t = gc.zeros(2)
    assert np.shares_memory(nn.Parameter(t).detach().numpy(), t.numpy())
    assert not nn.Parameter(gc.zeros(1), requires_grad=False).requires_grad


def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(3, 2)
    seen = []
    h = lin.register_forward_hook(lambda m, args, out: seen.append((m, args, out)))
    x = gc.randn(4, 3)
    y = lin(x)
    assert len(seen) == 1 and seen[0][0] is lin and seen[0][1][0] is x and seen[0][2] is y
    h2 = lin.register_forward_hook(lambda m, args, out: out * 0.0)
    assert np.all(lin(x).detach().numpy() == 0)
    h2.remove()
    h.remove()
    lin(x)
    assert len(seen) == 2
    with lin.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,)):
        np.testing.assert_allclose(lin(x).detach().numpy(), np.broadcast_to(lin.bias.detach().numpy(), (4, 2)))
    assert not np.allclose(lin(x).detach().numpy(), lin.bias.detach().numpy())
    order = []
    lin.register_forward_hook(lambda *a: order.append("b"))
    lin.register_forward_hook(lambda *a: order.append("a"), prepend=True)
    lin(x)
    assert order == ["a", "b"]


def test_train_eval_propagate_and_dropout():
    net = Net()
    assert net.training and net.head[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    drop = nn.Dropout(0.25)
    x = gc.ones(200, 500)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_mask_from_global_generator_and_gradient():
    x = gc.randn(50, dtype=gc.float64, requires_grad=True)
    gc.manual_seed(3)
    a = F.dropout(x, 0.5)
    gc.manual_seed(3)
    b = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(a.detach().numpy() != 0, 2.0, 0.0))
    assert np.all(F.dropout(x, 1.0).detach().numpy() == 0)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.9, training=False) is x


def test_zero_grad():
    lin = nn.Linear(3, 2)
    lin(gc.randn(4, 3)).sum().backward()
    g = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is g and np.all(g.numpy() == 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_to_double_keeps_parameter_identity_and_converts_grads_and_buffers():
    net = Net()
    w = net.block.fc.weight
    net(gc.tensor([[1, 2], [3, 4]])).sum().backward()
    assert net.double() is net
    assert net.block.fc.weight is w and w.dtype == gc.float64 and w.grad.dtype == gc.float64
    assert net.loss.weight.dtype == gc.float64 and net.steps.dtype == gc.int64
    out = net(gc.tensor([[1, 2], [3, 4]]))
    assert out.dtype == gc.float64
    net.to(gc.float32)
    assert w.dtype == gc.float32
    net.to("cpu")
    with pytest.raises(RuntimeError, match="CPU"):
        net.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        net.to(gc.int64)


def test_apply_children_first_and_requires_grad_():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    names = []
    net.apply(lambda m: names.append(type(m).__name__))
    assert names == ["Linear", "ReLU", "Sequential", "Sequential"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_deepcopy_gives_independent_parameters():
    lin = nn.Linear(3, 2)
    c = copy.deepcopy(lin)
    assert type(c.weight) is nn.Parameter and c.weight is not lin.weight
    np.testing.assert_array_equal(c.weight.detach().numpy(), lin.weight.detach().numpy())
    c.weight.detach().fill_(0.0)
    assert not np.all(lin.weight.detach().numpy() == 0)
    c(gc.randn(1, 3)).sum().backward()
    assert c.weight.grad is not None and lin.weight.grad is None


# ---- Linear -------------------------------------------------------------------------------
@pytest.mark.parametrize("xshape", [(5, 3), (2, 4, 3), (3,), (0, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward(xshape, bias):
    lin = nn.Linear(3, 4, bias=bias).double()
    x = np.random.default_rng(0).standard_normal(xshape)
    W = lin.weight.detach().numpy()
    b = lin.bias.detach().numpy() if bias else 0.0
    y = lin(gc.tensor(x))
    assert y.shape == xshape[:-1] + (4,)
    np.testing.assert_allclose(y.detach().numpy(), x @ W.T + b, rtol=1e-12)
    g = np.random.default_rng(1).standard_normal(y.shape)
    xt = gc.tensor(x, requires_grad=True)
    lin(xt).backward(gc.tensor(g))
    g2, x2 = g.reshape(-1, 4), x.reshape(-1, 3)
    np.testing.assert_allclose(xt.grad.numpy(), (g2 @ W).reshape(xshape), atol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(), g2.T @ x2, atol=1e-12)
    if bias:
        np.testing.assert_allclose(lin.bias.grad.numpy(), g2.sum(0), atol=1e-12)
    if x.size:
        args = [xt, gc.tensor(W, requires_grad=True)] + ([gc.tensor(b, requires_grad=True)] if bias else [])
        assert gradcheck(lambda *a: F.linear(*a), args)


def test_linear_is_one_primitive_without_transpose_and_float32():
    lin = nn.Linear(3, 2)
    y = lin(gc.randn(4, 3))
    assert y.dtype == gc.float32 and y.grad_fn.name() == "linear"
    assert y.grad_fn.parents == (None, lin.weight, lin.bias)


def test_linear_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(2, 3\)"):
        lin(gc.randn(4, 5))
    with pytest.raises(TypeError, match="dtype"):
        lin(gc.randn(4, 3, dtype=gc.float64))
    with pytest.raises(ValueError, match="bias"):
        F.linear(gc.randn(4, 3), gc.randn(2, 3), gc.randn(3))


# ---- activations, containers, Embedding, Flatten ---------------------------------------------
def test_activation_modules_match_functional():
    x = gc.tensor(np.linspace(-3, 3, 12).reshape(3, 4))
    xd = x.numpy().astype(np.float64)
    cases = [(nn.ReLU(), np.maximum(xd, 0)), (nn.Sigmoid(), 1 / (1 + np.exp(-xd))),
             (nn.Tanh(), np.tanh(xd)), (nn.LeakyReLU(0.2), np.where(xd > 0, xd, 0.2 * xd)),
             (nn.Identity(3, foo=1), xd),
             (nn.Softmax(dim=1), np.exp(xd) / np.exp(xd).sum(1, keepdims=True)),
             (nn.LogSoftmax(dim=0), xd - np.log(np.exp(xd).sum(0, keepdims=True)))]
    for mod, ref in cases:
        np.testing.assert_allclose(mod(x).numpy(), ref, rtol=1e-5, atol=1e-6, err_msg=repr(mod))
    np.testing.assert_allclose(nn.GELU()(x).numpy(), F.gelu(x).numpy())
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), F.gelu(x, approximate="tanh").numpy())
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(y.numpy().sum(1), 1.0, rtol=1e-6)


def test_sequential_and_module_list():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"]
    x = gc.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(), c(b(a(x))).detach().numpy())
    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    named = nn.Sequential(collections.OrderedDict([("enc", a), ("act", b)]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    ml = nn.ModuleList([a, b])
    ml.append(c)
    ml += [nn.Tanh()]
    assert len(ml) == 4 and ml[-1].__class__ is nn.Tanh
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"] and ml[0] is b
    assert [k for k, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    with pytest.raises(IndexError):
        ml[5]
    md = nn.ModuleDict({"x": a})
    md["y"] = c
    assert list(md.keys()) == ["x", "y"] and "x" in md
    assert [k for k, _ in md.named_parameters()] == ["x.weight", "x.bias", "y.weight", "y.bias"]


def test_flatten():
    x = gc.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)


def test_embedding_forward_backward_and_padding_idx():
    emb = nn.Embedding(6, 3, padding_idx=1).double()
    W = emb.weight.detach().numpy()
    assert np.all(W[1] == 0)
    idx = np.array([[0, 1, 2], [2, 5, 1]])
    out = emb(gc.tensor(idx))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.detach().numpy(), W[idx])
    g = np.random.default_rng(0).standard_normal((2, 3, 3))
    out.backward(gc.tensor(g))
    ref = np.zeros_like(W)
    np.add.at(ref, idx.reshape(-1), g.reshape(-1, 3))
    ref[1] = 0
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref)
    with pytest.raises(IndexError, match="out of range"):
        emb(gc.tensor([6]))
    with pytest.raises(TypeError, match="int64"):
        emb(gc.tensor([1.0]))
    assert repr(emb) == "Embedding(6, 3, padding_idx=1)"
    pre = nn.Embedding.from_pretrained(gc.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(gc.tensor([1])).tolist() == [[3.0, 4.0]]
    neg = nn.Embedding(4, 2, padding_idx=-1)
    assert neg.padding_idx == 3 and np.all(neg.weight.detach().numpy()[3] == 0)


def test_functional_accepts_torch_keywords():
    x = gc.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True).tolist() == [0.0, 2.0]
    np.testing.assert_allclose(F.leaky_relu(x, 0.5, inplace=False).numpy(), [-0.5, 2.0])
    assert F.dropout(x, p=0.3, training=False, inplace=False) is x


def test_deepcopy_copies_grads():
    lin = nn.Linear(2, 1)
    lin(gc.ones(1, 2)).sum().backward()
    c = copy.deepcopy(lin)
    assert c.weight.grad is not lin.weight.grad
    np.testing.assert_array_equal(c.weight.grad.numpy(), lin.weight.grad.numpy())
