"""The examples run (short versions) and learn: quick smoke tests of examples/*.py."""
import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mlp_example_learns():
    assert _load("mlp_digits").main(epochs=3, progress=False) > 0.85


def test_cnn_example_learns():
    assert _load("cnn_digits").main(epochs=2, progress=False) > 0.8


def test_rnn_example_learns():
    accs = _load("rnn_digits").main(epochs=2, progress=False)
    assert set(accs) == {"lstm", "gru"} and min(accs.values()) > 0.5


def test_generative_example_loss_falls_and_writes_a_png(tmp_path):
    mod = _load("generative_digits")
    losses = mod.main(["--epochs", "3", "--out", str(tmp_path / "vae.png")])
    assert losses[-1] < losses[0] and np.isfinite(losses).all()
    assert (tmp_path / "vae.png").stat().st_size > 1000


def test_demo_runs_each_model_kind(capsys):
    from gradcore.__main__ import main
    for kind, title in (("cnn", "CNN conv32"), ("rnn", "LSTM(8->64)")):
        assert main(["demo", "--model", kind, "--epochs", "1", "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert title in out and "test accuracy:" in out.splitlines()[-1]
