"""A small CNN on the 8x8 digit images: two 3x3 conv blocks with BatchNorm, max-pooling,
Dropout and a dense head; Adam with a cosine schedule.

    python examples/cnn_digits.py            # prints the epoch table and test accuracy
"""
import gradcore as gc
import gradcore.nn.functional as F
from gradcore import nn


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),      # 32 x 8 x 8
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # 64 x 4 x 4
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(),                              # 256
        nn.Dropout(0.3), nn.Linear(256, 10))


def main(epochs=20, seed=0, progress=True):
    gc.manual_seed(seed)
    X_train, y_train, X_test, y_test = gc.data.load_digits(images=True)
    loader = gc.data.DataLoader(gc.data.TensorDataset(X_train, y_train), batch_size=64,
                                shuffle=True, seed=seed)
    model = make_model()
    opt = gc.optim.Adam(model.parameters(), lr=3e-3)
    sched = gc.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history = gc.train.fit(model, F.cross_entropy, opt, loader, epochs=epochs, scheduler=sched,
                           progress=progress)
    print(history.to_table())
    acc = gc.train.evaluate(model, F.cross_entropy, gc.data.DataLoader(
        gc.data.TensorDataset(X_test, y_test), batch_size=512))["accuracy"]
    print(f"test accuracy: {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
