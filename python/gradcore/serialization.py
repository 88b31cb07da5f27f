"""Checkpoints without pickle: ``gc.save(obj, path)`` / ``gc.load(path)``.

``obj`` is a tree of dicts, lists and tuples whose leaves are gc tensors, numpy arrays, Python
ints / floats / strings / bools / None (model and optimizer state dicts, or a dict combining
them). Loading never executes code from the file: the file holds data only.

File layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"\\x89GCKPT\\r\\n"   (the \\r\\n catches text-mode / newline mangling)
    8       4     format version (uint32), currently 1
    12      4     reserved, 0
    16      8     header length H in bytes (uint64)
    24      8     payload length P in bytes (uint64)
    32      32    sha256 of the H + P bytes that follow
    64      H     header: UTF-8 JSON {"tree": node}, space-padded so the payload is 64-byte aligned
    64+H    P     payload: raw little-endian array blocks, each 64-byte aligned

A node is ``{"t": kind, ...}``: "dict" (items: [[key, value] node pairs], keys str/int/float/
bool/None), "list"/"tuple" (v: [nodes]), "str"/"int"/"bool" (v), "float" (v: float.hex(), exact
for nan/inf), "none", "tensor"/"ndarray" (dtype, shape, offset, nbytes, and requires_grad for
tensors). Tensors load as gc tensors in C++-owned storage; numpy arrays load as numpy arrays.
"""
import math
import os
import struct

import numpy as np

from . import dtypes as _dt
from .tensor import Tensor, _empty, _wrap

__all__ = ["save", "load"]

MAGIC = b"\x89GCKPT\r\n"
VERSION = 1
_FIXED = struct.Struct("<8sII QQ32s")  # magic, version, reserved, H, P, sha256
_ALIGN = 64
_DTYPES = {"float32": _dt.float32, "float64": _dt.float64, "int64": _dt.int64, "bool": _dt.bool_}
_KEY_KINDS = ("str", "int", "float", "bool", "none")


# ---- save ----------------------------------------------------------------------------------
def save(obj, path):
    """Write ``obj`` to ``path`` atomically: a temp file in the same directory is written,
    fsynced and renamed over ``path``, so a crash mid-write leaves any previous file intact."""
    import hashlib, json  # noqa: E401  (lazy: keeps `import gradcore` fast)
    path = os.fspath(path)
    blocks, size = [], [0]
    tree = _encode(obj, blocks, size, "obj")
    header = json.dumps({"tree": tree}, separators=(",", ":"), allow_nan=False).encode()
    header += b" " * (-(_FIXED.size + len(header)) % _ALIGN)
    h = hashlib.sha256(header)
    parts = []
    pos = 0
    for off, buf in blocks:
        if off > pos:
            parts.append(b"\0" * (off - pos))
        parts.append(buf)
        pos = off + len(buf)
    for p in parts:
        h.update(p)
    fixed = _FIXED.pack(MAGIC, VERSION, 0, len(header), pos, h.digest())
    d = os.path.dirname(os.path.abspath(path))
    _clean_stale_temps(d, os.path.basename(path))
    tmp, fd = _open_temp(d, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(fixed)
            f.write(header)
            for p in parts:
                f.write(p)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


# Temp files are named ``.<name>.<host>.<pid>.<random>.gctmp`` next to the target and created
# with mode 0o666 & ~umask (as open() would create the file). A writer killed mid-save (kill -9,
# power loss) leaves its temp file behind; the next save to the same path removes the temps of
# writers on this host whose process is gone. (O_TMPFILE + linkat would leave nothing behind,
# but linkat cannot replace an existing checkpoint atomically, so it would need a named
# temporary anyway, and O_TMPFILE is Linux-only and missing on some filesystems.)
_TMP_SUFFIX = ".gctmp"


def _host():
    import socket
    return socket.gethostname().replace(".", "_") or "host"


def _open_temp(d, base):
    for _ in range(100):
        tmp = os.path.join(d, f".{base}.{_host()}.{os.getpid()}.{os.urandom(4).hex()}{_TMP_SUFFIX}")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"gc.save: could not create a temporary file in {d}")


def _clean_stale_temps(d, base):
    prefix, host = f".{base}.", _host()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        parts = name[len(prefix):-len(_TMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue            # the writer is alive (or the pid was reused): leave it
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass


def _fsync_dir(d):
    """Make the rename itself durable (POSIX); harmless to skip where directories can't be
    opened (Windows)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _array_node(kind, a, blocks, size, where):
    if a.dtype.name not in _DTYPES:  # the name ignores byte order: '>i8' is int64
        raise TypeError(f"gc.save: {where}: arrays of dtype {a.dtype} are not supported "
                        "(float32, float64, int64, bool)")
    buf = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
    off = size[0] + (-size[0] % _ALIGN)
    blocks.append((off, buf))
    size[0] = off + len(buf)
    return {"t": kind, "dtype": a.dtype.name, "shape": list(a.shape), "offset": off,
            "nbytes": len(buf)}


def _encode(x, blocks, size, where):
    if isinstance(x, Tensor):
        node = _array_node("tensor", x._data, blocks, size, where)
        node["requires_grad"] = bool(x.requires_grad)
        return node
    if isinstance(x, np.ndarray):
        return _array_node("ndarray", x, blocks, size, where)
    if x is None:
        return {"t": "none"}
    if isinstance(x, (bool, np.bool_)):
        return {"t": "bool", "v": bool(x)}
    if isinstance(x, (int, np.integer)):
        return {"t": "int", "v": int(x)}
    if isinstance(x, (float, np.floating)):
        return {"t": "float", "v": float(x).hex()}
    if isinstance(x, str):
        return {"t": "str", "v": x}
    if isinstance(x, dict):
        items = []
        for k, v in x.items():
            kn = _encode(k, blocks, size, where) if not isinstance(k, (dict, list, tuple, Tensor,
                                                                       np.ndarray)) else None
            if kn is None or kn["t"] not in _KEY_KINDS:
                raise TypeError(f"gc.save: {where}: dict key {k!r} of type {type(k).__name__} "
                                "is not supported (str, int, float, bool, None)")
            items.append([kn, _encode(v, blocks, size, f"{where}[{k!r}]")])
        return {"t": "dict", "items": items}
    if isinstance(x, (list, tuple)):
        return {"t": "list" if isinstance(x, list) else "tuple",
                "v": [_encode(v, blocks, size, f"{where}[{i}]") for i, v in enumerate(x)]}
    raise TypeError(f"gc.save: {where}: objects of type {type(x).__name__} are not supported "
                    "(tensors, numpy arrays, dict, list, tuple, str, int, float, bool, None)")


# ---- load ----------------------------------------------------------------------------------
class _Bad(Exception):
    """A problem with the file's contents; load() turns it into ValueError naming the path."""


def load(path, map_location=None, weights_only=None, mmap=None, **pickle_load_args):
    """Read a checkpoint written by ``gc.save``. Validates the magic bytes, version, lengths,
    sha256, dtypes and every array's shape against its byte count; a truncated, damaged or
    foreign file raises ValueError naming the path and the problem."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return _decode_file(raw)
    except _Bad as e:
        raise ValueError(f"gc.load: {path}: {e}") from None
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, MemoryError) as e:
        # anything the checks above did not foresee still names the file
        raise ValueError(f"gc.load: {path}: malformed checkpoint ({type(e).__name__}: {e})") \
            from None


def _foreign(raw):
    if raw[:1] == b"\x80" or raw[:1] in (b"(", b"}", b"]") and raw.rstrip()[-1:] == b".":
        return "a pickle file (e.g. from torch.save with the legacy format or pickle.dump)"
    if raw[:4] == b"PK\x03\x04":
        return "a zip archive (torch.save and numpy .npz files are zip archives)"
    if raw[:6] == b"\x93NUMPY":
        return "a numpy .npy file"
    return None


def _decode_file(raw):
    import hashlib, json  # noqa: E401
    if len(raw) < len(MAGIC) or raw[:len(MAGIC)] != MAGIC:
        kind = _foreign(raw) if raw else "an empty file"
        raise _Bad("not a gradcore checkpoint (bad magic bytes" +
                   (f"; this looks like {kind}; gradcore never unpickles" if kind else "") + ")")
    if len(raw) < _FIXED.size:
        raise _Bad(f"truncated: {len(raw)} bytes, shorter than the {_FIXED.size}-byte preamble")
    _, version, reserved, hlen, plen, digest = _FIXED.unpack_from(raw)
    if version != VERSION:
        raise _Bad(f"unsupported checkpoint format version {version} (this gradcore reads "
                   f"version {VERSION})")
    if reserved != 0:
        raise _Bad(f"reserved preamble field is {reserved}, not 0")
    want = _FIXED.size + hlen + plen
    if len(raw) < want:
        raise _Bad(f"truncated: {len(raw)} bytes, the preamble promises {want}")
    if len(raw) > want:
        raise _Bad(f"{len(raw) - want} unexpected trailing bytes after the payload")
    body = memoryview(raw)[_FIXED.size:]
    if hashlib.sha256(body).digest() != digest:
        raise _Bad("checksum mismatch: the file is corrupted")
    try:
        header = json.loads(bytes(body[:hlen]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _Bad(f"header is not valid JSON ({type(e).__name__})") from None
    if not isinstance(header, dict) or "tree" not in header:
        raise _Bad("header has no 'tree' entry")
    try:
        return _decode(header["tree"], body[hlen:], "obj")
    except RecursionError:
        raise _Bad("structure nested too deeply") from None


def _decode(n, payload, where):
    if not isinstance(n, dict) or not isinstance(n.get("t"), str):
        raise _Bad(f"{where}: malformed node {str(n)[:60]!r}")
    t = n["t"]
    if t in ("tensor", "ndarray"):
        return _decode_array(n, payload, where)
    if t == "none":
        return None
    if t in ("bool", "int", "str", "float"):
        v = n.get("v")
        ok = {"bool": lambda: type(v) is bool, "int": lambda: type(v) is int,
              "str": lambda: type(v) is str, "float": lambda: type(v) is str}[t]()
        if not ok:
            raise _Bad(f"{where}: {t} node holds {type(v).__name__}")
        if t == "float":
            try:
                return float.fromhex(v)
            except ValueError:
                raise _Bad(f"{where}: bad float {v[:40]!r}") from None
        return v
    if t in ("list", "tuple"):
        v = n.get("v")
        if not isinstance(v, list):
            raise _Bad(f"{where}: {t} node without a list of values")
        out = [_decode(x, payload, f"{where}[{i}]") for i, x in enumerate(v)]
        return out if t == "list" else tuple(out)
    if t == "dict":
        items = n.get("items")
        if not isinstance(items, list):
            raise _Bad(f"{where}: dict node without items")
        out = {}
        for it in items:
            if not isinstance(it, list) or len(it) != 2:
                raise _Bad(f"{where}: malformed dict item")
            if not isinstance(it[0], dict) or it[0].get("t") not in _KEY_KINDS:
                raise _Bad(f"{where}: dict key node of unsupported kind")
            k = _decode(it[0], payload, where)
            out[k] = _decode(it[1], payload, f"{where}[{k!r}]")
        return out
    raise _Bad(f"{where}: unknown node kind {t[:40]!r}")


def _decode_array(n, payload, where):
    dt = _DTYPES.get(n.get("dtype")) if isinstance(n.get("dtype"), str) else None
    if dt is None:
        raise _Bad(f"{where}: dtype {str(n.get('dtype'))[:40]!r} is not allowed "
                   "(float32, float64, int64, bool)")
    shape, off, nb = n.get("shape"), n.get("offset"), n.get("nbytes")
    if not isinstance(shape, list) or not all(type(s) is int and 0 <= s < 2 ** 62 for s in shape):
        raise _Bad(f"{where}: bad shape {str(shape)[:60]}")
    if len(shape) > 8:
        raise _Bad(f"{where}: shape {str(shape)[:60]} has {len(shape)} dims, at most 8 are "
                   "supported")
    if type(off) is not int or type(nb) is not int or off < 0 or nb < 0:
        raise _Bad(f"{where}: bad offset/nbytes")
    count = math.prod(shape)
    if count * dt.itemsize >= 2 ** 62:
        raise _Bad(f"{where}: shape {tuple(shape)} is too large")
    if count * dt.itemsize != nb:
        raise _Bad(f"{where}: shape {tuple(shape)} of {dt.name} needs {count * dt.itemsize} "
                   f"bytes, the entry says {nb}")
    if off + nb > len(payload):
        raise _Bad(f"{where}: array block [{off}, {off + nb}) runs past the payload "
                   f"({len(payload)} bytes)")
    src = np.frombuffer(payload, dtype=dt.newbyteorder("<"), count=count, offset=off)
    if dt == _dt.bool_ and count and src.view(np.uint8).max() > 1:
        raise _Bad(f"{where}: bool array holds bytes other than 0 and 1")
    out = _empty(tuple(shape), dt)  # C++-owned storage
    np.copyto(out, src.reshape(shape))
    if n["t"] == "ndarray":
        return out
    t = _wrap(out)
    if n.get("requires_grad") is True and dt in _dt.FLOATS:
        t.requires_grad_()
    return t
