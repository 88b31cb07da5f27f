"""Command line: ``python -m gradcore demo``, ``report`` and ``bench``.

``demo`` trains an MLP on the 8x8 digits scikit-learn ships and prints the per-epoch table, a
layer-wise gradient-norm table, and finally one line ``test accuracy: 0.981`` (held-out split).
``mpiexec -n N python -m gradcore demo --distributed`` trains the same model data-parallel
(gc.distributed; the batch is split across the ranks; rank 0 prints).
"""
import argparse
import os
import sys

# optimizer -> (default lr, factory); lrs picked for 30 epochs of batch 64 on digits
_OPTIMIZERS = {
    "sgd": (0.3, lambda o, p, lr: o.SGD(p, lr=lr)),
    "momentum": (0.05, lambda o, p, lr: o.SGD(p, lr=lr, momentum=0.9)),
    "adam": (5e-3, lambda o, p, lr: o.Adam(p, lr=lr)),
    "adamw": (5e-3, lambda o, p, lr: o.AdamW(p, lr=lr, weight_decay=1e-2)),
    "rmsprop": (3e-3, lambda o, p, lr: o.RMSprop(p, lr=lr)),
    "adagrad": (0.05, lambda o, p, lr: o.Adagrad(p, lr=lr)),
}
HIDDEN, LABEL_SMOOTHING, VAL_FRACTION = 256, 0.1, 0.1


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def _positive(kind):
    def parse(s):
        v = kind(s)
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v
    return parse


def _lr_arg(s):
    return "auto" if s == "auto" else _positive(float)(s)


def _parser():
    p = argparse.ArgumentParser(prog="python -m gradcore",
                                description="gradcore: CPU autodiff engine and training stack")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="train an MLP on the bundled digits; print loss, accuracy "
                                    "and per-layer gradient norms")
    d.add_argument("--model", choices=("mlp", "cnn", "rnn"), default="mlp",
                   help="mlp: 64-256-10 on flattened pixels; cnn: conv/BatchNorm/pool on the "
                        "8x8 image; rnn: an LSTM reading the image row by row")
    d.add_argument("--optimizer", choices=sorted(_OPTIMIZERS), default="adam")
    d.add_argument("--lr", type=_lr_arg, default=None,
                   help="learning rate, or 'auto' for the LR range test's suggestion "
                        "(gc.diagnostics.lr_find); default: per optimizer, 5e-3 for adam")
    d.add_argument("--epochs", type=_positive(int), default=30)
    d.add_argument("--batch-size", type=_positive(int), default=64)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--plot", metavar="PATH", default=None,
                   help="also write the training curves to this PNG (needs matplotlib)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--threads", type=_positive(int), default=None,
                   help="kernel threads (default: GRADCORE_NUM_THREADS / OMP_NUM_THREADS / all; "
                        "with --distributed, the cores divided by the ranks on this machine)")
    d.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run as 'mpiexec -n N python -m gradcore demo "
                        "--distributed' (needs gradcore[mpi]); --batch-size stays the global "
                        "batch, split across the ranks; rank 0 prints")
    r = sub.add_parser("report", help="run small experiments on the digits and write one "
                                      "self-contained HTML report (tables also on stdout)")
    r.add_argument("--out", required=True, metavar="DIR", help="directory for report.html "
                   "(and figures/*.png)")
    r.add_argument("--quick", action="store_true", help="fewer epochs and smaller grids "
                   "(about 20 s instead of 1-2 min)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=_positive(int), default=1,
                   help="kernel threads (default 1: the models are small)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    b = sub.add_parser("bench", help="benchmark suite: gradcore eager and compiled vs PyTorch "
                                     "(python -m gradcore bench --help)", add_help=False)
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the suite")
    return p


def demo(args):
    import gradcore as gc
    threads = gc.get_num_threads()
    if getattr(args, "distributed", False):
        gc.distributed.init()
        if not args.threads:  # ranks on one machine share its cores
            gc.set_num_threads(max(1, (os.cpu_count() or 1) // gc.distributed._local_size()))
    if args.threads:
        gc.set_num_threads(args.threads)
    try:
        return _demo(args)
    finally:
        gc.set_num_threads(threads)  # main() may be called in-process (tests)


def _demo(args):
    import numpy as np

    import gradcore as gc
    from gradcore import nn, optim
    from gradcore.data import DataLoader, TensorDataset, _stratified_split, load_digits
    from gradcore.nn import functional as F

    X, y, X_test, y_test = load_digits()
    # Validation comes out of the training split, so the test split is only read once, at the end.
    tr, va = _stratified_split(y, VAL_FRACTION, seed=args.seed)
    X_train, y_train, X_val, y_val = X[tr], y[tr], X[va], y[va]
    # z-score every pixel with training statistics (+0.01: some border pixels are always 0)
    mu, sd = X_train.mean(0), X_train.std(0) + 0.01
    X_train, X_val, X_test = ((a - mu) / sd for a in (X_train, X_val, X_test))

    dist = getattr(args, "distributed", False)
    ranks = gc.distributed.world_size() if dist else 1
    out = print if not dist or gc.distributed.rank() == 0 else (lambda *a, **k: None)
    gc.manual_seed(args.seed)
    kind = getattr(args, "model", "mlp")
    model, title = _demo_model(kind)
    if kind != "mlp":  # the images: (N, 1, 8, 8)
        X_train, X_val, X_test = (a.reshape(-1, 1, 8, 8) for a in (X_train, X_val, X_test))
    if dist:
        model = gc.distributed.DistributedDataParallel(model)
    lr0, make = _OPTIMIZERS[args.optimizer]
    lr = args.lr if args.lr is not None else lr0

    def loss_fn(logits, target):
        return F.cross_entropy(logits, target, label_smoothing=LABEL_SMOOTHING)

    train_set = TensorDataset(X_train, y_train)
    if dist:  # each rank reads its shard with batch_size / ranks: the global batch is unchanged
        sampler = gc.data.DistributedSampler(train_set, shuffle=True, seed=args.seed)
        train_loader = DataLoader(train_set, batch_size=max(1, args.batch_size // ranks),
                                  sampler=sampler)
    else:
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                  seed=args.seed)
    val_loader = DataLoader(TensorDataset(X_val, y_val), batch_size=512)
    auto = None
    if lr == "auto":   # the range test restores the model, the optimizer and the loader
        auto = gc.diagnostics.lr_find(model, loss_fn, make(optim, model.parameters(), lr0),
                                      train_loader)
        lr = auto.suggested_lr
    opt = make(optim, model.parameters(), lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=512)

    out(f"gradcore demo: {title} on the 8x8 digits, standardized pixels "
          f"(train {len(y_train)} / val {len(y_val)} / test {len(y_test)})")
    per_rank = (f" ({_plural(ranks, 'rank')} x {train_loader.batch_size}, "
                f"{_plural(gc.get_num_threads(), 'thread')} each)") if dist else ""
    if auto is not None:
        out(f"  lr range test: {len(auto.lrs)} steps from {auto.lrs[0]:.0e} to "
            f"{auto.lrs[-1]:.2g}{' (stopped: diverged)' if auto.diverged else ''}; "
            f"suggested lr (steepest descent of the smoothed loss) {lr:.3g}")
    out(f"  {args.optimizer} lr={lr:g} with cosine annealing, batch {args.batch_size}{per_rank}, "
        f"{args.epochs} epochs, cross-entropy with label smoothing {LABEL_SMOOTHING}, "
        f"seed {args.seed}" + ("" if dist else f", {_plural(gc.get_num_threads(), 'thread')}")
        + "\n")
    hist = gc.train.fit(model, loss_fn, opt, train_loader, args.epochs, val_loader=val_loader,
                        scheduler=sched, progress=not args.no_progress)
    out(hist.to_table(columns=("epoch", "loss", "accuracy", "val_accuracy", "lr",
                               "epoch_time")))
    labels = {name: f"{name} {_describe(m)}" for name, m in model.named_modules()
              if _describe(m)}
    out("\nlayer-wise gradient norms (mean L2 norm of the layer's gradient per step):")
    out(hist.grad_norm_table(labels=labels))
    if args.plot and out is print:
        out(f"\nwrote {hist.plot(args.plot)}")
        if auto is not None:
            out(f"wrote {auto.plot(os.path.splitext(args.plot)[0] + '_lr_find.png')}")
    test = gc.train.evaluate(model, loss_fn, test_loader)
    out(f"\ntest accuracy: {test['accuracy']:.3f}")
    return 0


class _RowReader:
    """The demo's recurrent model: each 8x8 image is 8 steps of 8 pixels through an LSTM; the
    last hidden state goes to a dense head. (Defined lazily: gc.nn is imported by the demo.)"""

    @staticmethod
    def make(nn):
        class RowReader(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(8, 64, batch_first=True)
                self.head = nn.Linear(64, 10)

            def forward(self, x):
                out, _ = self.lstm(x.reshape(x.shape[0], 8, 8))
                return self.head(out[:, -1])
        return RowReader()


def _demo_model(kind):
    """(model, description) for --model."""
    from gradcore import nn
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 4 * 4, 10)), \
            "CNN conv32-BN-conv64-BN-maxpool-dropout-dense"
    if kind == "rnn":
        return _RowReader.make(nn), "LSTM(8->64) reading rows, dense head"
    return (nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10)),
            f"MLP 64-{HIDDEN}-10 (ReLU)")


def _describe(m):
    for attrs in (("in_features", "out_features"), ("in_channels", "out_channels"),
                  ("input_size", "hidden_size")):
        if all(hasattr(m, a) for a in attrs):
            return f"{type(m).__name__}({getattr(m, attrs[0])}->{getattr(m, attrs[1])})"
    return None


def bench(args):
    """The benchmark suite shipped with the package (gradcore/bench/runner.py)."""
    from .bench.runner import main as run
    rc = run(args.args)
    return rc if isinstance(rc, int) else 0


def main(argv=None):
    p = _parser()
    args, rest = p.parse_known_args(argv)  # REMAINDER alone drops a leading "--flag"
    if args.cmd == "bench":
        args.args = rest + args.args
        return bench(args)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.cmd == "report":
        from .report import run
        return run(args.out, quick=args.quick, seed=args.seed, threads=args.threads,
                   progress=not args.no_progress)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
