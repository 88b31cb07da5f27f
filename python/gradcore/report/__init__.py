"""``python -m gradcore report --out DIR [--quick] [--seed N]``: small, real experiments on the
bundled digits, written to ``DIR/report.html`` (one self-contained page, figures inlined as
base64 PNGs) with the same tables printed as text on stdout.

One module per section (``SECTIONS``, in page order); each has ``TITLE`` and
``build(ctx) -> Section``. ``run`` times them, renders the text and the page, and writes every
figure to ``DIR/figures/`` as well. A section that raises is reported on the page and in the
exit code (1) instead of stopping the run.
"""
import importlib
import importlib.util
import os
import platform
import sys
import time
import traceback

SECTIONS = ("activations", "loss", "optimizers", "learning_rate", "layer_norms",
            "regularization", "batch_size", "initialization", "accuracy", "landscape",
            "vanishing", "curvature", "attribution")

__all__ = ["run", "SECTIONS"]


def run(out, quick=False, seed=0, progress=True, stream=None, threads=1):
    """Build every section, print the text tables to ``stream`` (stdout) and write
    ``out/report.html``. Returns the exit code: 0; 1 if a section failed; 2 without matplotlib.

    ``threads`` kernel threads (default 1: the models are small, and on a loaded machine an
    OpenMP team waiting at its barriers for a busy core made steps 10-30x slower)."""
    import gradcore as gc
    if importlib.util.find_spec("matplotlib") is None:   # every section draws a figure
        print("gradcore report needs matplotlib: pip install gradcore[plot]  "
              "(or: pip install matplotlib)", file=sys.stderr)
        return 2
    before = gc.get_num_threads()
    gc.set_num_threads(threads)
    try:
        return _run(gc, out, quick, seed, progress, stream)
    finally:
        gc.set_num_threads(before)


def _run(gc, out, quick, seed, progress, stream):
    from . import html, _base, text
    stream = stream or sys.stdout
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    t0 = time.perf_counter()
    ctx = _base.Context(quick=quick, seed=seed)
    mods = [importlib.import_module(f".{name}", __name__) for name in SECTIONS]
    bar = _bar(progress, len(mods))
    sections, failed = [], []
    for i, mod in enumerate(mods, 1):
        if bar is not None:
            bar.set_description_str(f"report: {mod.TITLE}")
        t = time.perf_counter()
        try:
            s = mod.build(ctx)
            s.title = f"{i}. {s.title}"
            rendered = text.section(s)
        except Exception as e:   # one broken section must not hide the others
            failed.append(mod.TITLE)
            s = _base.Section(f"{i}. {mod.TITLE}", "",
                              note=f"this section failed: {type(e).__name__}: {e}")
            rendered = text.section(s)
            traceback.print_exc(file=sys.stderr)
        s.seconds = time.perf_counter() - t
        sections.append(s)
        print(rendered, file=stream, flush=True)
        for j, (data, _) in enumerate(s.figures, 1):
            with open(os.path.join(out, "figures", f"{i:02d}_{SECTIONS[i - 1]}_{j}.png"),
                      "wb") as f:
                f.write(data)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    total = time.perf_counter() - t0
    info = (f"gradcore {getattr(gc, '__version__', '?')}, Python {platform.python_version()}, "
            f"{platform.machine()}, {gc.get_num_threads()} kernel thread"
            f"{'' if gc.get_num_threads() == 1 else 's'}, "
            f"{'--quick' if quick else 'full'} run, seed {seed}, {total:.1f} s")
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(html.page(sections, info))
    print(f"wrote {path} ({info})", file=stream)
    if failed:
        print(f"report: {len(failed)} section(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _bar(progress, total):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="section", leave=False, dynamic_ncols=True, file=sys.stderr)
