"""The training workloads' models, written once for both libraries (gradcore and torch share the
API), and the training step each candidate times.

A workload's parameters are drawn once by gradcore's own init (``gc.manual_seed(0)``) and copied
into every other instance (torch, the compiled gradcore model), so all candidates start from the
same weights and the first step's loss agrees (except the VAE, whose noise comes from each
library's own generator).

One step = ``opt.zero_grad()``, forward, loss, ``loss.backward()``, ``opt.step()``; it takes the
batch as arguments ``step(x, y)`` so ``gc.compile`` rebinds them like a training loop would.
"""
import numpy as np

LR, MOMENTUM = 1e-3, 0.9


# ---- models (lib: the gradcore or torch module) ---------------------------------------------
def mlp(lib, dims):
    nn, layers = lib.nn, []
    for j, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        layers += [nn.Linear(i, o)] + ([nn.ReLU()] if j < len(dims) - 2 else [])
    return nn.Sequential(*layers)


def lenet(lib, size):
    """conv 1->16 5x5 pad 2, ReLU, pool 2, conv 16->32 5x5, ReLU, pool 2, dense ->128 ->10."""
    nn, s = lib.nn, (size // 2 - 4) // 2
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * s * s, 128), nn.ReLU(), nn.Linear(128, 10))


def recurrent(lib, kind, n_in, hidden, classes):
    """nn.RNN (tanh) / nn.LSTM over (T, N, n_in), a Linear head on the last h_n."""
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(n_in, hidden)
            self.head = nn.Linear(hidden, classes)

        def forward(self, x):
            _, h = self.rnn(x)
            h = h[0] if isinstance(h, tuple) else h
            return self.head(h[-1])
    return Net()


def conv_vae(lib, latent=16):
    """examples/generative_digits.py's ConvVAE on 8x8 images: two stride-2 convs, mu/logvar,
    z = mu + exp(logvar / 2) * eps, dense, two stride-2 ConvTranspose2d; returns logits, mu,
    logvar."""
    nn = lib.nn

    class ConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(
                nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten())
            self.mu, self.logvar = nn.Linear(256, latent), nn.Linear(256, latent)
            self.dec_in = nn.Linear(latent, 256)
            self.dec = nn.Sequential(
                nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))

        def forward(self, x):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + (logvar * 0.5).exp() * lib.randn(*mu.shape)
            return self.dec(self.dec_in(z).relu().reshape(z.shape[0], 64, 2, 2)), mu, logvar
    return ConvVAE()


# ---- losses ---------------------------------------------------------------------------------
def _vae_loss(lib, out, x):
    logits, mu, logvar = out
    F = lib.nn.functional
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
    return (rec + kl) / x.shape[0]


def loss_fn(lib, kind):
    F = lib.nn.functional
    if kind == "ce":
        return F.cross_entropy
    if kind == "mse":
        return F.mse_loss
    return lambda out, x: _vae_loss(lib, out, x)


# ---- the step ---------------------------------------------------------------------------------
def optimizer(lib, params, kind):
    if kind == "adam":
        return lib.optim.Adam(params, lr=LR)
    return lib.optim.SGD(params, lr=LR, momentum=MOMENTUM)


def make_step(lib, model, opt, loss):
    def step(x, y):
        opt.zero_grad()
        out = loss(model(x), y)
        out.backward()
        opt.step()
        return out
    return step


def weights(gc, build):
    """The parameters of gradcore's freshly initialised model as float32 numpy arrays."""
    gc.manual_seed(0)
    return [p.detach().numpy().copy() for p in build(gc).parameters()]


def setup(lib, to_tensor, build, init, loss_kind, opt_kind, x, y):
    """(step, x, y) for one library: the model from ``build(lib)`` with parameters ``init``
    (numpy arrays in ``parameters()`` order)."""
    model = build(lib)
    params = list(model.parameters())
    if init is not None:   # None: the library's own init (peak-RSS runs)
        if [tuple(p.shape) for p in params] != [a.shape for a in init]:
            raise RuntimeError("bench: parameter shapes differ between gradcore and torch")
        with lib.no_grad():
            for p, a in zip(params, init):
                p.copy_(to_tensor(np.ascontiguousarray(a)))
    opt = optimizer(lib, params, opt_kind)
    return make_step(lib, model, opt, loss_fn(lib, loss_kind)), to_tensor(x), to_tensor(y)
