"""`python -m gradcore demo` end to end, and the bench dispatch."""
import os
import re
import subprocess
import sys

import pytest

import gradcore as gc
from gradcore import __main__ as cli

FINAL = re.compile(r"^test accuracy: (\d\.\d{3})$")


def _run(capsys, *args):
    assert cli.main(["demo", "--no-progress", *args]) == 0
    out = capsys.readouterr()
    return out.out


def _strip_seconds(out):
    """The seconds column is the only thing allowed to differ between runs."""
    return re.sub(r"\s+\d+\.\d\d$", "", out, flags=re.M)


def _check_format(out, epochs):
    lines = out.rstrip("\n").split("\n")
    m = FINAL.match(lines[-1])
    assert m, lines[-1]
    assert sum(bool(FINAL.match(ln)) for ln in lines) == 1
    acc = float(m.group(1))
    assert 0 <= acc <= 1
    i = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["epoch"])
    assert lines[i].split() == ["epoch", "train", "loss", "train", "acc", "val", "acc", "lr",
                                "seconds"]
    rows = lines[i + 1:i + 1 + epochs]
    for e, row in enumerate(rows, 1):
        cells = row.split()
        assert len(cells) == 6 and int(cells[0]) == e
        assert 0 <= float(cells[2]) <= 1 and 0 <= float(cells[3]) <= 1
        float(cells[1]), float(cells[4]), float(cells[5])
    assert lines[i + 1 + epochs] == ""
    j = next(j for j, ln in enumerate(lines) if ln.startswith("layer "))
    assert "grad norm (epoch 1)" in lines[j] and f"grad norm (epoch {epochs})" in lines[j]
    layer_rows = lines[j + 1:j + 3]
    assert [r.split()[0] for r in layer_rows] == ["0", "2"]
    assert "Linear(64->256)" in layer_rows[0] and "Linear(256->10)" in layer_rows[1]
    for r in layer_rows:
        c = r.split()
        assert float(c[-3]) > 0 and float(c[-2]) > 0 and c[-1] in ("ok", "vanishing",
                                                                     "exploding", "nonfinite")
    return acc


def test_demo_output_format(capsys):
    out = _run(capsys, "--epochs", "3", "--seed", "1")
    acc = _check_format(out, 3)
    assert acc > 0.8
    assert out.startswith("gradcore demo: MLP 64-256-10")


def test_demo_deterministic(capsys):
    a = _run(capsys, "--epochs", "2", "--seed", "3", "--batch-size", "128")
    b = _run(capsys, "--epochs", "2", "--seed", "3", "--batch-size", "128")
    assert _strip_seconds(a) == _strip_seconds(b)
    c = _run(capsys, "--epochs", "2", "--seed", "4", "--batch-size", "128")
    assert _strip_seconds(a) != _strip_seconds(c)


def test_demo_defaults_reach_97_percent(capsys):
    acc = _check_format(_run(capsys), 30)
    assert acc >= 0.97


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"])
def test_demo_every_optimizer(capsys, opt):
    out = _run(capsys, "--optimizer", opt, "--epochs", "2", "--batch-size", "128")
    assert _check_format(out, 2) > 0.5
    assert f"{opt} lr=" in out


def test_demo_lr_flag_and_plot(capsys, tmp_path):
    png = tmp_path / "curves.png"
    threads = gc.get_num_threads()
    out = _run(capsys, "--epochs", "2", "--lr", "0.01", "--plot", str(png), "--threads", "1")
    _check_format(out, 2)
    assert "adam lr=0.01 " in out and f"wrote {png}" in out and "1 thread\n" in out
    assert gc.get_num_threads() == threads  # restored
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--lr", "-1"], ["--optimizer", "lion"],
                                 ["--batch-size", "x"]])
def test_demo_bad_flags(capsys, bad):
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", *bad])
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(cli.__file__))] + sys.path))
    r = subprocess.run([sys.executable, "-m", "gradcore", "demo", "--epochs", "1",
                        "--no-progress", "--batch-size", "256"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert FINAL.match(r.stdout.rstrip("\n").split("\n")[-1])


def test_bench_dispatches_to_the_packaged_suite(monkeypatch):
    from gradcore.bench import runner
    got = []
    monkeypatch.setattr(runner, "main", lambda argv=None: got.append(argv) or 0)
    assert cli.main(["bench", "--quick", "--only", "tiny_chain"]) == 0
    assert got == [["--quick", "--only", "tiny_chain"]]
