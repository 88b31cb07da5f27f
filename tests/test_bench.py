"""The benchmark suite runs and prints valid JSON lines (smoke only: no timed assertions)."""
import importlib
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FAMILIES = ("matmul", "overhead", "elementwise", "train", "conv", "rnn")


def _records(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _check(rec):
    assert isinstance(rec["workload"], str) and rec["workload"]
    if rec["workload"] == "environment":
        assert rec["gradcore_threads"] >= 1
        return
    unit = rec["unit"]
    mine = rec.get(f"gradcore_{unit}", rec.get(f"gradcore_kernel_{unit}"))
    assert mine is not None and math.isfinite(mine) and mine > 0, rec
    assert rec["threads"] >= 1
    for k, v in rec.items():
        if k.startswith("ratio_") and v is not None:
            assert math.isfinite(v) and v > 0, (k, rec)


@pytest.mark.parametrize("family", FAMILIES)
def test_module_quick_prints_json_lines(family, capsys):
    mod = importlib.import_module(f"bench.bench_{family}")
    returned = mod.main(["--quick", "--reps", "2"])
    recs = _records(capsys.readouterr().out)
    assert recs[0]["workload"] == "environment"
    assert len(recs) == len(returned) + 1 >= 2
    for r in recs:
        _check(r)
    names = [r["workload"] for r in recs]
    assert len(set(names)) == len(names)


def test_train_states_what_ran(capsys):
    from bench import bench_train
    for r in bench_train.main(["--quick", "--reps", "2"]):
        assert r["gradcore_impl"]
        if "loss0_torch" in r:  # same weights and batch: the first losses agree
            assert r["loss0_gradcore"] == pytest.approx(r["loss0_torch"], rel=1e-4)


def test_conv_first_losses_agree(capsys):
    from bench import bench_conv
    for r in bench_conv.main(["--quick", "--reps", "2"]):
        if "loss0_torch" in r:  # same weights and batch: the first losses agree
            assert r["loss0_gradcore"] == pytest.approx(r["loss0_torch"], rel=1e-4)


def test_rnn_first_losses_agree_with_torch(capsys):
    from bench import bench_rnn
    for r in bench_rnn.main(["--quick", "--reps", "2"]):
        if "loss0_torch" in r:  # same weights and batch: the first losses agree
            assert r["loss0_gradcore"] == pytest.approx(r["loss0_torch"], rel=1e-4)


def test_run_all_tables_and_json_file(tmp_path, capsys):
    from bench import run_all
    path = tmp_path / "out.jsonl"
    assert run_all.main(["--quick", "--reps", "2", "--only", "overhead", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| workload |" in out and "tiny_chain_100ops_fwd_bwd" in out
    lines = path.read_text().splitlines()
    assert [json.loads(s)["workload"] for s in lines][:2] == ["environment",
                                                             "tiny_chain_100ops_fwd_bwd"]


def test_run_all_rejects_unknown_family():
    from bench import run_all
    with pytest.raises(SystemExit, match="unknown family"):
        run_all.main(["--quick", "--only", "nope"])


def test_table_handles_missing_candidates():
    from bench.run_all import table
    recs = [{"workload": "a", "unit": "us", "gradcore_us": 1.0, "numpy_us": 2.0,
             "ratio_vs_numpy": 2.0, "ratio_vs_torch": None, "spread": 0.1},
            {"workload": "b", "unit": "us", "gradcore_us": 3.0, "torch_us": 1500.0,
             "ratio_vs_numpy": None, "ratio_vs_torch": 0.5, "spread": 0.2}]
    rows = table(recs).splitlines()
    assert rows[0] == ("| workload | gradcore (us) | numpy (us) | torch (us) | ratio_vs_numpy "
                       "| ratio_vs_torch | spread |")
    assert rows[3] == "| b | 3 | - | 1500 | - | 0.5 | 0.2 |"


def test_run_all_runs_as_a_script(tmp_path):
    # Run from elsewhere: the script must find the bench package itself (and gradcore as
    # installed, or from the checkout's python/ when it is not).
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run_all.py"), "--quick",
                        "--reps", "2", "--only", "overhead"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _records(r.stdout)[0]["workload"] == "environment"
