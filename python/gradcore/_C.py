"""The compiled core, in the variant built for this CPU.

A default build makes one extension per x86-64 level (``_C_avx512``: x86-64-v4 with AVX-512,
``_C_avx2``: x86-64-v3 with AVX2 and FMA, ``_C_baseline``), so one wheel runs everywhere and at
full speed where AVX-512 is there. This module asks the baseline variant (safe on any x86-64)
for the CPU's level, imports the best variant the CPU runs, and re-exports it: everything in
gradcore uses ``gradcore._C``. A ``-march=native`` build (``_C_native``) is used when present.
``GRADCORE_SIMD=avx2`` (or ``baseline``, ``avx512``, ``native``) forces a variant.
"""
import importlib
import importlib.util
import os

_LEVEL = {"avx512": 4, "avx2": 3, "baseline": 0, "native": 0}


def _available(v):
    return importlib.util.find_spec(f"{__package__}._C_{v}") is not None


def _load():
    forced = os.environ.get("GRADCORE_SIMD")
    if forced:
        if forced not in _LEVEL:
            raise ImportError(f"GRADCORE_SIMD={forced!r}: expected one of {', '.join(_LEVEL)}")
        if not _available(forced):
            raise ImportError(f"GRADCORE_SIMD={forced}: this build has no _C_{forced} "
                              "(rebuild with -Ccmake.define.GRADCORE_SIMD=dispatch)")
        return importlib.import_module(f"{__package__}._C_{forced}"), forced
    if _available("native"):
        return importlib.import_module(f"{__package__}._C_native"), "native"
    level = importlib.import_module(f"{__package__}._C_baseline").cpu_level() \
        if _available("baseline") else 0
    for v in ("avx512", "avx2", "baseline"):
        if _available(v) and level >= _LEVEL[v]:
            return importlib.import_module(f"{__package__}._C_{v}"), v
    raise ImportError("gradcore: no compiled core (_C_*) found for this CPU; reinstall gradcore")


_module, variant = _load()
globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
