"""The page: one self-contained HTML file (inline CSS, figures as base64 PNG data URIs, no
scripts, fonts or external links), so it opens offline and can be mailed as one file."""
import base64
from html import escape

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
 color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1080px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.7em;margin:.2em 0}
h2{font-size:1.3em;margin:2.2em 0 .3em;padding-top:.6em;border-top:1px solid #ddd}
nav ol{columns:2;font-size:.95em;padding-left:1.4em}
nav a{color:#0b5cad;text-decoration:none}
.what{margin:.3em 0 .8em;color:#333}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:.4em .8em}
.reading{background:#e8f1fb;border-left:4px solid #0b5cad;padding:.45em .8em;font-weight:500}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:.88em;background:#fff}
.caption{font-style:italic;margin:1em 0 0;color:#444;font-size:.9em}
th,td{border:1px solid #d5d5d5;padding:.25em .6em}
th{background:#f0f0f0;font-weight:600}
td{text-align:right;font-variant-numeric:tabular-nums}
td:first-child{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.4em 0 .8em;border:1px solid #e3e3e3;
 background:#fff}
.meta{color:#666;font-size:.85em}
"""


def _table(t):
    head = "".join(f"<th>{escape(str(h))}</th>" for h in t.headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>\n"
                   for r in t.rows)
    cap = f'<p class="caption">{escape(t.caption)}</p>' if t.caption else ""
    return f"{cap}<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def _section(i, s):
    out = [f'<section id="s{i}"><h2>{escape(s.title)}</h2>']
    if s.what:
        out.append(f'<p class="what">{escape(s.what)}</p>')
    if s.note:
        out.append(f'<p class="note">{escape(s.note)}</p>')
    out += [_table(t) for t in s.tables]
    for data, alt in s.figures:
        b64 = base64.b64encode(data).decode("ascii")
        out.append(f'<img alt="{escape(alt)}" src="data:image/png;base64,{b64}">')
    if s.reading:
        out.append(f'<p class="reading">{escape(s.reading)}</p>')
    out.append(f'<p class="meta">section time {s.seconds:.1f} s</p></section>')
    return "\n".join(out)


def page(sections, info):
    toc = "".join(f'<li><a href="#s{i}">{escape(s.title.split(". ", 1)[-1])}</a></li>'
                  for i, s in enumerate(sections, 1))
    body = "\n".join(_section(i, s) for i, s in enumerate(sections, 1))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gradcore report</title><style>{_CSS}</style></head>
<body><main>
<h1>gradcore report: how networks train on the 8x8 digits</h1>
<p class="meta">{escape(info)}. Every number below was computed by this run
(<code>python -m gradcore report</code>); the 1438 training digits train, the 359 held-out
digits are the validation set.</p>
<nav><ol>{toc}</ol></nav>
{body}
</main></body></html>
"""
