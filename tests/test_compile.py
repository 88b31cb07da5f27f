"""gc.compile: record a step once, replay it in C++; bit-identical to eager, re-records on new
shapes, refuses what a replay cannot repeat."""
import numpy as np
import pytest

import gradcore as gc
import gradcore.nn.functional as F
from gradcore import nn


def _setup(seed=0, dropout=0.2, opt="adam"):
    gc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Dropout(dropout), nn.Linear(24, 4))
    if opt == "adam":
        o = gc.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    else:
        o = gc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    return model, o, gc.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)


def _batches(n, bs=8, seed=3):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((bs, 12)).astype(np.float32), rng.integers(0, 4, bs))
            for _ in range(n)]


def _make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_compiled_training_equals_eager_to_the_bit(opt):
    data = _batches(9) + _batches(2, bs=5, seed=9)   # the last two: a new shape, recorded again
    results = []
    for compiled in (False, True):
        model, o, sched = _setup(opt=opt)
        step = _make_step(model, o)
        if compiled:
            step = gc.compile(step)
        losses = []
        for x, y in data:
            loss = step(gc.tensor(x), gc.tensor(y))
            losses.append(loss.item())
            sched.step()
        results.append(([p.detach().numpy().copy() for p in model.parameters()], losses))
        if compiled:
            st = step.stats()
            # bs=8: warm-up, record, 7 replays; bs=5: warm-up, record
            assert st["recordings"] == 2 and st["replays"] == 7 and st["signatures"] == 2
    (p_eager, l_eager), (p_comp, l_comp) = results
    assert l_eager == l_comp
    for a, b in zip(p_eager, p_comp):
        np.testing.assert_array_equal(a, b)


def test_compiled_function_reading_a_value_raises_with_the_line():
    model, o, _ = _setup()
    step = _make_step(model, o)

    def bad(x, y):
        loss = step(x, y)
        if loss > 1.0:                      # a Python decision on a tensor value
            o.param_groups[0]["lr"] = 0.0
        return loss

    c = gc.compile(bad, warmup=0)
    x, y = _batches(1)[0]
    with pytest.raises(gc.CompileError, match=r"bool\(\).*test_compile.py:\d+"):
        c(gc.tensor(x), gc.tensor(y))
    c2 = gc.compile(lambda x, y: step(x, y).item(), warmup=0)
    with pytest.raises(gc.CompileError, match="item()"):
        c2(gc.tensor(x), gc.tensor(y))


def test_an_input_copied_outside_kernels_is_refused():
    w = gc.randn(3, requires_grad=True)

    def f(x):
        z = gc.tensor(np.asarray(x._data) * 2)    # numpy copy: a replay would not see new x
        return (w * z).sum()

    with pytest.raises(gc.CompileError, match="argument #0"):
        gc.compile(f, warmup=0)(gc.randn(3))


def test_outputs_are_the_recorded_tensors_refreshed_each_call():
    f = gc.compile(lambda a, b: (a * b + 1).tanh(), warmup=0)
    rng = np.random.default_rng(0)
    outs = []
    for _ in range(3):
        a, b = (rng.standard_normal((4, 5)).astype(np.float32) for _ in range(2))
        out = f(gc.tensor(a), gc.tensor(b))
        np.testing.assert_allclose(out.numpy(), np.tanh(a * b + 1), rtol=1e-6)
        outs.append(out)
    assert outs[1] is outs[2]


def test_decorator_forms_and_bad_arguments():
    @gc.compile
    def f(x):
        return x * 2

    @gc.compile(warmup=0)
    def g(x):
        return x + 1

    assert f(gc.ones(2)).tolist() == [2, 2] and g(gc.ones(2)).tolist() == [2, 2]
    with pytest.raises(TypeError):
        gc.compile(3)
    with pytest.raises(ValueError):
        gc.compile(lambda x: x, warmup=-1)


def test_fit_compile_equals_eager_fit():
    X = np.random.default_rng(0).standard_normal((100, 12)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)
    runs = []
    for compiled in (False, True):
        model, o, sched = _setup(seed=1)
        loader = gc.data.DataLoader(gc.data.TensorDataset(X, y), batch_size=16, shuffle=True,
                                    seed=0)   # 6 batches of 16 and one of 4: two signatures
        h = gc.train.fit(model, F.cross_entropy, o, loader, epochs=3, scheduler=sched,
                         clip_grad_norm=1.0, progress=False, compile=compiled)
        runs.append((h["loss"], h["accuracy"], [p.detach().numpy().copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    for a, b in zip(runs[0][2], runs[1][2]):
        np.testing.assert_array_equal(a, b)


class _ConvVAE(nn.Module):
    """A small conv-VAE step: conv encoder, reparameterisation (a random draw per call),
    transposed-conv decoder."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.mu, self.logvar = nn.Linear(4 * 4 * 4, 3), nn.Linear(4 * 4 * 4, 3)
        self.dec_in = nn.Linear(3, 4 * 4 * 4)
        self.dec = nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1)

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + gc.randn(mu.shape) * (0.5 * logvar).exp()
        return self.dec(self.dec_in(z).reshape(-1, 4, 4, 4)), mu, logvar


def _model_case(kind):
    """(model, batch maker, loss) of each benchmark family, with dropout and batch norm."""
    rng = np.random.default_rng(5)
    if kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(),
                              nn.Dropout(0.3), nn.Linear(6 * 2 * 2, 3))
        def batch(bs=6):
            return (rng.standard_normal((bs, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, bs))
        return model, batch, lambda m, x, y: F.cross_entropy(m(x), y)
    if kind in ("RNN", "LSTM", "GRU"):
        rec, head = getattr(nn, kind)(5, 7, num_layers=2, dropout=0.2), nn.Linear(7, 3)
        model = nn.ModuleList([rec, head])
        def batch(bs=4):
            return (rng.standard_normal((6, bs, 5)).astype(np.float32), rng.integers(0, 3, bs))
        def loss(m, x, y):
            out, _ = m[0](x)
            return F.cross_entropy(m[1](out[-1]), y)
        return model, batch, loss
    model = _ConvVAE()
    def batch(bs=5):
        x = rng.random((bs, 1, 8, 8)).astype(np.float32)
        return x, x.copy()  # (input, reconstruction target)
    def vae_loss(m, x, y):
        recon, mu, logvar = m(x)
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum() / x.shape[0]
        return F.mse_loss(recon, y) + 0.1 * kl
    return model, batch, vae_loss


@pytest.mark.parametrize("kind", ["cnn", "RNN", "LSTM", "GRU", "vae"])
def test_every_benchmark_family_compiles_bit_identical_to_eager(kind):
    results = []
    for compiled in (False, True):
        gc.manual_seed(11)
        model, batch, loss_fn = _model_case(kind)
        data = [batch() for _ in range(6)]
        opt = gc.optim.Adam(model.parameters(), lr=1e-2)
        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model, x, y)
            loss.backward()
            opt.step()
            return loss
        if compiled:
            step = gc.compile(step)
        losses = [step(gc.tensor(x), gc.tensor(y)).item() for x, y in data]
        state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        results.append((losses, state))
        if compiled:
            assert step.stats()["replays"] == 4
    (l_e, s_e), (l_c, s_c) = results
    assert l_e == l_c
    for k in s_e:
        np.testing.assert_array_equal(s_e[k], s_c[k], err_msg=k)


@pytest.mark.parametrize("op", [
    lambda x: x.nonzero(), lambda x: (x > 0).any(), lambda x: x.topk(2)[0],
    lambda x: gc.isclose(x, x), lambda x: (x > 0).long().cumsum(0), lambda x: x.long().unique()])
def test_ops_computed_with_numpy_refuse_to_be_recorded(op):
    # their values would be this call's forever in a replay: an error, never a stale answer
    def f(x):
        return op(x)
    x = gc.randn(5)
    op(x)   # eager: fine
    c = gc.compile(f, warmup=0)
    with pytest.raises(gc.CompileError, match="computed with numpy outside the kernels"):
        c(x)
