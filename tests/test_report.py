"""`python -m gradcore report --quick` end to end (one run for the module), and the rendering.

The run is checked for structure, not for timings: exit 0, one self-contained report.html with
every section heading, one inline PNG per figure written, nothing fetched from outside, and the
HTML tables equal, cell for cell, to the tables printed on stdout."""
import base64
import html.parser
import importlib
import os
import subprocess
import sys
import types

import pytest

import gradcore as gc
from gradcore import report
from gradcore.report import _base, html as page, text

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(gc.__file__)))


class _Page(html.parser.HTMLParser):
    """h2 texts, img srcs, every attribute value, and the tables as lists of rows of cells."""

    def __init__(self):
        super().__init__()
        self.h2, self.imgs, self.attrs, self.tables, self.tags = [], [], [], [], set()
        self._cell = self._h2 = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        if tag == "img":
            self.imgs.append(dict(attrs).get("src", ""))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "h2":
            self._h2 = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "h2":
            self.h2.append("".join(self._h2))
            self._h2 = None

    def handle_data(self, data):
        for buf in (self._cell, self._h2):
            if buf is not None:
                buf.append(data)


def _stdout_tables(out):
    """Pipe tables of the text output: header row, rule row, body rows."""
    tables, cur = [], None
    for line in out.splitlines():
        if line.startswith("|"):
            if cur is None:
                cur = []
                tables.append(cur)
            if not set(line) <= set("|-"):
                cur.append([c.strip() for c in line[2:-2].split(" | ")])
        else:
            cur = None
    return tables


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (PYDIR, os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-m", "gradcore", "report", "--out", str(out),
                        "--quick", "--no-progress"], capture_output=True, text=True, env=env,
                       cwd=out, timeout=600)
    return r, out


def test_exit_code_and_files(quick_run):
    r, out = quick_run
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "report.html").is_file()
    assert r.stdout.rstrip().splitlines()[-1].startswith(f"wrote {out / 'report.html'}")


def _parsed(out):
    doc = (out / "report.html").read_text(encoding="utf-8")
    p = _Page()
    p.feed(doc)
    p.close()
    return doc, p


def test_every_section_heading(quick_run):
    _, out = quick_run
    _, p = _parsed(out)
    titles = [importlib.import_module(f"gradcore.report.{n}").TITLE for n in report.SECTIONS]
    assert p.h2 == [f"{i}. {t}" for i, t in enumerate(titles, 1)]
    assert len(titles) == 13


def test_one_inline_png_per_figure(quick_run):
    _, out = quick_run
    doc, p = _parsed(out)
    figs = sorted(os.listdir(out / "figures"))
    assert len(p.imgs) == len(figs) >= 14
    for src, name in zip(p.imgs, figs):
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data == (out / "figures" / name).read_bytes()
    for i, name in enumerate(report.SECTIONS, 1):   # every section draws at least one
        assert any(f.startswith(f"{i:02d}_{name}_") for f in figs), name


def test_self_contained(quick_run):
    _, out = quick_run
    doc, p = _parsed(out)
    assert "http://" not in doc and "https://" not in doc
    assert doc.count('src="') == doc.count('src="data:image/png;base64,')
    assert not p.tags & {"script", "link", "iframe", "object", "embed", "style"} - {"style"}
    for k, v in p.attrs:
        if k in ("src", "href"):
            assert v.startswith("data:image/png;base64,") or v.startswith("#"), (k, v[:80])
    assert "@import" not in doc and "url(" not in doc


def test_html_tables_equal_stdout_tables(quick_run):
    r, out = quick_run
    _, p = _parsed(out)
    printed = _stdout_tables(r.stdout)
    assert len(p.tables) == len(printed) >= 13
    for html_rows, text_rows in zip(p.tables, printed):
        assert html_rows == text_rows
    numbers = sum(1 for t in p.tables for row in t[1:] for c in row[1:]
                  if c.replace(".", "").replace("-", "").replace("e", "").replace("%", "")
                  .replace("+", "").isdigit())
    assert numbers > 200    # the tables carry measured numbers, not just labels


def test_every_section_has_a_reading(quick_run):
    r, out = quick_run
    doc, _ = _parsed(out)
    assert r.stdout.count("\nreading: ") == len(report.SECTIONS)
    assert doc.count('class="reading"') == len(report.SECTIONS)
    assert "note:" not in r.stdout and 'class="note"' not in doc


def test_rendering_escapes_and_matches():
    t = _base.Table(["a <b>", "x & y"], [["1", "<2>"], ["n/a", "3.5"]], "cap & <tion>")
    s = _base.Section("T <1>", "what & why", [t], [(b"\x89PNG fake", "alt")], "read <me>")
    doc = page.page([s], "info")
    p = _Page()
    p.feed(doc)
    assert p.tables == [[["a <b>", "x & y"], ["1", "<2>"], ["n/a", "3.5"]]]
    assert p.h2 == ["T <1>"]
    assert _stdout_tables(text.section(s)) == p.tables
    assert p.imgs == ["data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()]
    with pytest.raises(ValueError, match="without '\\|'"):
        text.table(_base.Table(["a"], [["x | y"]]))
    with pytest.raises(ValueError, match="needs 2 cells"):
        text.table(_base.Table(["a", "b"], [["x"]]))


@pytest.mark.parametrize("v, want", [(None, "-"), (3, "3"), (0.123456, "0.1235"),
                                     (float("nan"), "nan"), (float("inf"), "inf"),
                                     (True, "yes"), ("x", "x"), (1234567.0, "1.235e+06")])
def test_fmt(v, want):
    assert _base.fmt(v) == want


def test_failing_section_is_reported(tmp_path, monkeypatch, capsys):
    fake = types.ModuleType("gradcore.report._broken")
    fake.TITLE = "Broken"

    def build(ctx):
        raise RuntimeError("boom")
    fake.build = build
    monkeypatch.setitem(sys.modules, "gradcore.report._broken", fake)
    monkeypatch.setattr(report, "SECTIONS", ("_broken", "accuracy"))
    threads = gc.get_num_threads()
    assert report.run(str(tmp_path), quick=True, progress=False) == 1
    assert gc.get_num_threads() == threads
    doc = (tmp_path / "report.html").read_text()
    assert "this section failed: RuntimeError: boom" in doc
    assert "2. Accuracy per epoch" in doc and doc.count("data:image/png;base64,") == 1
    captured = capsys.readouterr()
    assert "1 section(s) failed: Broken" in captured.err
