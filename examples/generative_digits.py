"""A convolutional variational autoencoder (Kingma & Welling 2014) on the 8x8 digits.

Encoder: two stride-2 convolutions (8x8 -> 4x4 -> 2x2) and a dense layer to the mean and
log-variance of a 16-d Gaussian; the reparameterisation z = mu + exp(logvar / 2) * eps keeps
the sample differentiable. Decoder: dense to 64x2x2, two stride-2 ConvTranspose2d (2 -> 4 -> 8),
sigmoid. Loss per image: binary cross-entropy of the reconstruction (summed over pixels) plus
KL(q(z|x) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).

    python examples/generative_digits.py [--out digits_vae.png]
prints the loss per epoch and writes a PNG: reconstructions of test digits (top rows) and new
digits decoded from z ~ N(0, I) (bottom rows).
"""
import argparse

import numpy as np

import gradcore as gc
import gradcore.nn.functional as F
from gradcore import nn

LATENT = 16


class ConvVAE(nn.Module):
    def __init__(self, latent=LATENT):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2),      # 32 x 4 x 4
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2),     # 64 x 2 x 2
            nn.Flatten())
        self.mu, self.logvar = nn.Linear(256, latent), nn.Linear(256, latent)
        self.dec_in = nn.Linear(latent, 256)
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 32 x 4 x 4
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))                      # 1 x 8 x 8

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        return self.dec(self.dec_in(z).relu().reshape(z.shape[0], 64, 2, 2))  # logits

    def forward(self, x):
        mu, logvar = self.encode(x)
        eps = gc.randn(*mu.shape)
        z = mu + (logvar * 0.5).exp() * eps
        return self.decode(z), mu, logvar


def vae_loss(logits, x, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum()
    return (rec + kl) / x.shape[0]


def train(epochs=40, seed=0, verbose=True):
    gc.manual_seed(seed)
    X_train, _, X_test, _ = gc.data.load_digits(images=True)
    loader = gc.data.DataLoader(gc.data.TensorDataset(X_train), batch_size=64, shuffle=True,
                                seed=seed)
    model = ConvVAE()
    opt = gc.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for epoch in range(epochs):
        total, n = 0.0, 0
        for (x,) in loader:
            logits, mu, logvar = model(x)
            loss = vae_loss(logits, x, mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
            n += x.shape[0]
        losses.append(total / n)
        if verbose and (epoch % 10 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch + 1:3d}  loss {losses[-1]:.3f}")
    return model, losses, X_test


def sample_grid(model, X_test, path, seed=1):
    """Write reconstructions (rows 1-2) and samples from the prior (rows 3-6) as one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    model.eval()
    with gc.no_grad():
        rec = model.decode(model.encode(gc.tensor(X_test[:16]))[0]).sigmoid().numpy()
        gc.manual_seed(seed)
        gen = model.decode(gc.randn(64, LATENT)).sigmoid().numpy()
    fig, axes = plt.subplots(6, 16, figsize=(12, 5))
    for r in range(6):
        for c in range(16):
            if r < 2:   # pairs: a test digit, then its reconstruction
                img = (X_test if c % 2 == 0 else rec)[r * 8 + c // 2]
            else:
                img = gen[(r - 2) * 16 + c]
            ax = axes[r, c]
            ax.imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_title("test digit / reconstruction (pairs)", loc="left", fontsize=10)
    axes[2, 0].set_title("new digits decoded from z ~ N(0, I)", loc="left", fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02, hspace=0.45, wspace=0.1)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--out", default="digits_vae.png")
    args = p.parse_args(argv)
    model, losses, X_test = train(args.epochs)
    print(f"loss: first epoch {losses[0]:.3f}, last epoch {losses[-1]:.3f}")
    print(f"wrote {sample_grid(model, X_test, args.out)}")
    return losses


if __name__ == "__main__":
    main()
