import math
import os
import pickle
import struct

import numpy as np
import pytest

import gradcore as gc
from gradcore import serialization as S


def _same(a, b):
    """Deep equality that checks types, dtypes, shapes and bits."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, gc.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert type(k) is type(next(x for x in b if x == k))
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def _everything():
    gc.manual_seed(0)
    return {
        "model": {"0.weight": gc.randn(4, 3), "0.bias": gc.randn(4, dtype=gc.float64),
                  "bn.num_batches_tracked": gc.tensor(7), "mask": gc.tensor([True, False])},
        "optim": {"state": {0: {"step": 3, "exp_avg": gc.randn(4, 3), "flag": None},
                            1: {"step": gc.tensor(2.0)}},
                  "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                    "amsgrad": False, "name": "default"}]},
        "epoch": 3, "big": 2 ** 70, "neg": -5, "floats": [0.1, -0.0, float("inf"), -float("inf"),
                                                           float("nan"), 1e-310, 5e300],
        "empty": gc.zeros(0, 3), "scalar": gc.tensor(1.5), "empty_list": [], "empty_dict": {},
        "nested": [(1, "ü€"), [[{}]]], "np": np.arange(6, dtype=np.int64).reshape(2, 3),
        "np32": np.ones((2, 2), np.float32), "param": gc.randn(2, requires_grad=True),
        1: "int key", 2.5: "float key", True: "bool key", None: "none key",
        "tensor_f64_big": gc.randn(1000, dtype=gc.float64),
    }


def test_round_trip_every_supported_type(tmp_path):
    obj = _everything()
    p = tmp_path / "ck.gck"
    gc.save(obj, p)
    _same(obj, gc.load(p))
    _same(obj, gc.load(str(p)))


def test_loaded_tensors_are_fresh_gc_tensors(tmp_path):
    t = gc.randn(3, 3)
    gc.save({"t": t}, tmp_path / "a")
    u = gc.load(tmp_path / "a")["t"]
    assert isinstance(u, gc.Tensor) and u.is_leaf and not u.requires_grad
    assert u.numpy().flags.c_contiguous and u.numpy().flags.writeable
    assert not np.shares_memory(u.numpy(), t.numpy())
    u.numpy()[0, 0] = 42  # independent storage
    assert t.numpy()[0, 0] != 42
    assert (u * 2).shape == (3, 3)


def test_non_contiguous_and_big_endian_numpy(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    b = np.arange(4, dtype=">i8")
    gc.save({"a": a, "b": b}, tmp_path / "x")
    r = gc.load(tmp_path / "x")
    np.testing.assert_array_equal(r["a"], a)
    np.testing.assert_array_equal(r["b"], b)
    assert r["b"].dtype == np.int64


def test_payload_is_little_endian_and_aligned(tmp_path):
    gc.save({"a": gc.tensor([1.0, 2.0]), "b": gc.tensor([3, 4])}, tmp_path / "x")
    raw = (tmp_path / "x").read_bytes()
    assert raw[:8] == S.MAGIC
    _, version, _, hlen, plen, _ = struct.unpack_from("<8sIIQQ32s", raw)
    assert version == 1 and (64 + hlen) % 64 == 0 and len(raw) == 64 + hlen + plen
    payload = raw[64 + hlen:]
    assert payload[:8] == struct.pack("<2f", 1.0, 2.0)
    assert payload[64:80] == struct.pack("<2q", 3, 4)


@pytest.mark.parametrize("bad,match", [({"s": {1, 2}}, "set"), ({"f": lambda: 0}, "function"),
                                       ({(1, 2): 3}, "key"),
                                       ({"a": np.zeros(2, np.int32)}, "int32"),
                                       ({"a": [object()]}, r"obj\['a'\]\[0\]")])
def test_unsupported_objects_raise_type_error(tmp_path, bad, match):
    with pytest.raises(TypeError, match=match):
        gc.save(bad, tmp_path / "x")
    assert not os.listdir(tmp_path)  # no temp file left behind


# ---- atomicity and damage -------------------------------------------------------------------
def test_truncated_file_raises_and_previous_file_is_intact(tmp_path, monkeypatch):
    p = tmp_path / "ck.gck"
    good = {"w": gc.randn(50, 50), "epoch": 1}
    gc.save(good, p)
    before = p.read_bytes()

    # A crash mid-write: the write of the payload dies half way.
    real_fdopen = os.fdopen

    class Dying:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += 1
            if self.n == 3:
                self.f.write(bytes(b)[:len(b) // 2])
                raise OSError("disk on fire")
            return self.f.write(b)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def __getattr__(self, k):
            return getattr(self.f, k)

    monkeypatch.setattr(S.os, "fdopen", lambda fd, mode: Dying(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="disk on fire"):
        gc.save({"w": gc.randn(50, 50), "epoch": 2}, p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.gck"]
    _same(good, gc.load(p))

    # A truncated copy (e.g. a partial download) is detected.
    for cut in (0, 5, 40, 64, len(before) // 2, len(before) - 1):
        q = tmp_path / f"cut{cut}"
        q.write_bytes(before[:cut])
        with pytest.raises(ValueError, match=f"gc.load: .*cut{cut}: "):
            gc.load(q)


def test_every_flipped_byte_is_detected(tmp_path):
    p = tmp_path / "ck"
    gc.save({"a": gc.randn(5), "b": [1, "x"]}, p)
    raw = p.read_bytes()
    rng = np.random.default_rng(0)
    for i in list(range(0, 64)) + list(rng.integers(64, len(raw), 40)):
        bad = bytearray(raw)
        bad[i] ^= 0x10
        p.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match="gc.load: .*ck: "):
            gc.load(p)


def test_trailing_bytes_detected(tmp_path):
    p = tmp_path / "ck"
    gc.save([1], p)
    p.write_bytes(p.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="trailing"):
        gc.load(p)


def test_random_garbage(tmp_path):
    rng = np.random.default_rng(1)
    for i, n in enumerate((1, 10, 63, 64, 100, 5000)):
        p = tmp_path / f"g{i}"
        p.write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        with pytest.raises(ValueError, match=f"g{i}: not a gradcore checkpoint"):
            gc.load(p)
    # garbage after a valid magic
    p = tmp_path / "m"
    p.write_bytes(S.MAGIC + rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="gc.load: .*m: "):
        gc.load(p)


def test_pickle_file_is_refused_and_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"w": np.zeros(3), "x": Boom()}))
    with pytest.raises(ValueError, match=r"evil.pt: not a gradcore checkpoint.*pickle"):
        gc.load(p)
    assert not (tmp_path / "pwned").exists()
    z = tmp_path / "a.npz"
    np.savez(z, a=np.zeros(2))
    with pytest.raises(ValueError, match="zip"):
        gc.load(z)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError, match="empty file"):
        gc.load(tmp_path / "empty")


def _forge(tmp_path, tree, payload=b"", version=1):
    """A file with a correct checksum around a hostile header."""
    import hashlib
    import json
    header = json.dumps({"tree": tree}).encode()
    header += b" " * (-(64 + len(header)) % 64)
    digest = hashlib.sha256(header + payload).digest()
    p = tmp_path / "forged"
    p.write_bytes(struct.pack("<8sIIQQ32s", S.MAGIC, version, 0, len(header), len(payload),
                              digest) + header + payload)
    return p


@pytest.mark.parametrize("tree,match", [
    ({"t": "tensor", "dtype": "object", "shape": [1], "offset": 0, "nbytes": 8}, "dtype"),
    ({"t": "tensor", "dtype": "<U8", "shape": [1], "offset": 0, "nbytes": 32}, "dtype"),
    ({"t": "tensor", "dtype": "float32", "shape": [3], "offset": 0, "nbytes": 8}, "needs 12"),
    ({"t": "tensor", "dtype": "float32", "shape": [4], "offset": 0, "nbytes": 16}, "runs past"),
    ({"t": "tensor", "dtype": "float32", "shape": [-1], "offset": 0, "nbytes": 4}, "shape"),
    ({"t": "tensor", "dtype": "float64", "shape": [1], "offset": -8, "nbytes": 8}, "offset"),
    ({"t": "tensor", "dtype": "bool", "shape": [8], "offset": 0, "nbytes": 8}, "bool"),
    ({"t": "pickle", "v": "cos\nsystem"}, "unknown node"),
    ({"t": "int", "v": "1"}, "int node"),
    ({"t": "dict", "items": [[{"t": "list", "v": []}, {"t": "none"}]]}, "key"),
    ([1, 2], "malformed"),
])
def test_forged_headers_rejected(tmp_path, tree, match):
    p = _forge(tmp_path, tree, payload=b"\x07" * 8)
    with pytest.raises(ValueError, match=f"forged: .*{match}"):
        gc.load(p)


def test_future_version_rejected(tmp_path):
    p = _forge(tmp_path, {"t": "none"}, version=2)
    with pytest.raises(ValueError, match="version 2"):
        gc.load(p)
    assert gc.load(_forge(tmp_path, {"t": "none"})) is None


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        gc.load(tmp_path / "nope")


def test_overwrite_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "ck"
    for e in range(3):
        gc.save({"epoch": e}, p)
    assert gc.load(p) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["ck"]
