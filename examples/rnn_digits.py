"""Recurrent networks reading each 8x8 digit as a sequence of 8 rows of 8 pixels: an LSTM and
a GRU (hidden 64, batch_first), the last hidden state into a dense head.

    python examples/rnn_digits.py            # trains both, prints each test accuracy
"""
import gradcore as gc
import gradcore.nn.functional as F
from gradcore import nn


class RowReader(nn.Module):
    """(N, 1, 8, 8) image -> 8 steps of 8 pixels -> recurrent layer -> last hidden -> logits."""

    def __init__(self, cell="lstm", hidden=64):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.rnn(x.reshape(x.shape[0], 8, 8))
        return self.head(out[:, -1])


def train(cell, epochs=25, seed=0, progress=True):
    gc.manual_seed(seed)
    X_train, y_train, X_test, y_test = gc.data.load_digits(images=True)
    loader = gc.data.DataLoader(gc.data.TensorDataset(X_train, y_train), batch_size=32,
                                shuffle=True, seed=seed)
    model = RowReader(cell)
    opt = gc.optim.Adam(model.parameters(), lr=1e-2)
    history = gc.train.fit(model, F.cross_entropy, opt, loader, epochs=epochs,
                           clip_grad_norm=5.0, progress=progress)
    acc = gc.train.evaluate(model, F.cross_entropy, gc.data.DataLoader(
        gc.data.TensorDataset(X_test, y_test), batch_size=512))["accuracy"]
    print(f"{cell.upper()}: final train loss {history['loss'][-1]:.4f}, "
          f"test accuracy: {acc:.3f}")
    return acc


def main(epochs=25, seed=0, progress=True):
    return {cell: train(cell, epochs, seed, progress) for cell in ("lstm", "gru")}


if __name__ == "__main__":
    main()
