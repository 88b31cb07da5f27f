"""A feedforward network on the 8x8 digits: Linear-ReLU-Linear, Adam, cross-entropy.

    python examples/mlp_digits.py            # ~1 s, prints the epoch table and test accuracy
"""
import gradcore as gc
import gradcore.nn.functional as F
from gradcore import nn


def main(epochs=30, seed=0, progress=True):
    gc.manual_seed(seed)
    X_train, y_train, X_test, y_test = gc.data.load_digits()
    loader = gc.data.DataLoader(gc.data.TensorDataset(X_train, y_train), batch_size=64,
                                shuffle=True, seed=seed)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = gc.optim.Adam(model.parameters(), lr=5e-3)
    history = gc.train.fit(model, F.cross_entropy, opt, loader, epochs=epochs, progress=progress)
    print(history.to_table())
    acc = gc.train.evaluate(model, F.cross_entropy, gc.data.DataLoader(
        gc.data.TensorDataset(X_test, y_test), batch_size=512))["accuracy"]
    print(f"test accuracy: {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
