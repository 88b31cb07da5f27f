"""PyTorch tutorial patterns ported by changing imports only (tests/ported/*.py are torch code:
tensors and autograd, nn modules, optimizers, custom autograd Functions, datasets and data
loaders, saving and loading). Each script runs with its torch imports rewritten to gradcore and
must train (its ``losses`` list falls and stays finite); where PyTorch is installed the same
script runs on torch too and the loss curves are compared."""
import contextlib
import io
import math
import pathlib
import re
import runpy

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent / "ported"
SCRIPTS = sorted(p.name for p in HERE.glob("*.py"))

# How far a gradcore curve may be from torch's: the poly_custom_function weights start from
# fixed values, so both frameworks follow the same curve; elsewhere initial weights come from
# each framework's own generator and the data order from its own shuffling, so the end of the
# curve is compared, relative to how far the loss fell.
EXACT = {"poly_custom_function.py"}


def port(source):
    """Rewrite only the import lines: torch -> gradcore."""
    out = []
    for line in source.splitlines():
        s = line.strip()
        if s.startswith("import torch") or s.startswith("from torch"):
            line = re.sub(r"^(\s*)import torch(\s|$)", r"\1import gradcore as torch\2", line)
            line = re.sub(r"^(\s*)import torch\.", r"\1import gradcore.", line)
            line = re.sub(r"^(\s*)from torch(\.| )", r"\1from gradcore\2", line)
        out.append(line)
    return "\n".join(out) + "\n"


def run(source, tmp_path, name):
    path = tmp_path / name
    path.write_text(source)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        g = runpy.run_path(str(path), run_name="__main__")
    return [float(v) for v in g["losses"]], buf.getvalue()


def test_port_rewrites_only_imports():
    src = ("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
           "from torch import nn, optim\nfrom torch.utils.data import DataLoader\n"
           "x = torch.ones(2)  # torch stays torch here\n")
    assert port(src) == ("import gradcore as torch\nimport gradcore.nn as nn\n"
                         "import gradcore.nn.functional as F\nfrom gradcore import nn, optim\n"
                         "from gradcore.utils.data import DataLoader\n"
                         "x = torch.ones(2)  # torch stays torch here\n")


@pytest.mark.parametrize("name", SCRIPTS)
def test_ported_script_trains(name, tmp_path):
    losses, out = run(port((HERE / name).read_text()), tmp_path, name)
    assert losses and all(math.isfinite(v) for v in losses), name
    k = max(1, len(losses) // 10)
    assert np.mean(losses[-k:]) < 0.7 * np.mean(losses[:k]), (name, losses[:3], losses[-3:])


@pytest.mark.parametrize("name", SCRIPTS)
def test_loss_curve_matches_torch(name, tmp_path):
    pytest.importorskip("torch", reason="PyTorch is not installed: no curve to compare with")
    src = (HERE / name).read_text()
    ours, _ = run(port(src), tmp_path, "gc_" + name)
    theirs, _ = run(src, tmp_path, "torch_" + name)
    assert len(ours) == len(theirs)
    if name in EXACT:
        np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-3)
        return
    k = max(1, len(ours) // 10)
    end_ours, end_theirs = np.mean(ours[-k:]), np.mean(theirs[-k:])
    start = max(np.mean(ours[:k]), np.mean(theirs[:k]))
    # Both reached the same neighbourhood: the gap at the end is small next to the drop.
    assert abs(end_ours - end_theirs) <= 0.25 * (start - min(end_ours, end_theirs)) + 1e-3, \
        (name, end_ours, end_theirs, start)
