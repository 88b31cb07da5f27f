"""``gc.train``: the training loop (``fit``, ``evaluate``), its ``History`` and callbacks.

    hist = gc.train.fit(model, F.cross_entropy, opt, train_loader, epochs=10, val_loader=val)
    print(hist.to_table()); hist.plot("history.png")
"""
from .callbacks import Callback, EarlyStopping, ModelCheckpoint
from .fit import accuracy, evaluate, fit
from .history import History

__all__ = ["fit", "evaluate", "accuracy", "History", "Callback", "EarlyStopping",
           "ModelCheckpoint"]
