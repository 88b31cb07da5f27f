"""docs/api.md is generated from the package (docs/gen_api.py) and must stay current."""
import contextlib
import io
import pathlib
import runpy

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_api_reference_is_up_to_date():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        runpy.run_path(str(ROOT / "docs" / "gen_api.py"), run_name="__main__")
    assert (ROOT / "docs" / "api.md").read_text() == buf.getvalue(), \
        "docs/api.md is stale: run `PYTHONPATH=python python docs/gen_api.py > docs/api.md`"


def test_user_docs_link_only_their_own_files():
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = f.read_text()
        assert "../shared" not in text and "shared/API.md" not in text, f
