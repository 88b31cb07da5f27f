"""Command line: ``python -m gradcore demo`` and ``python -m gradcore bench``."""
import argparse
import sys


def _demo_graph(args):
    import gradcore as gc
    gc.manual_seed(args.seed)
    x = gc.randn(4, 3, requires_grad=True)
    w = gc.randn(3, 2, requires_grad=True)
    loss = ((x @ w).tanh() ** 2).mean()
    loss.backward()
    print(f"loss = {loss.item():.6f}")
    print("d loss / d w =\n", w.grad.numpy())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gradcore")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="train a small model and show gradients")
    d.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "demo":
        _demo_graph(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
