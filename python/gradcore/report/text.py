"""The text form of a section (stdout): title, sentence, tables as pipe tables, reading."""


def table(t):
    for row in [t.headers] + t.rows:
        if len(row) != len(t.headers) or any("|" in str(c) or "\n" in str(c) for c in row):
            raise ValueError(f"report table {t.caption!r}: every row needs {len(t.headers)} "
                             f"cells without '|' or newlines, got {row}")
    widths = [max(len(str(c)) for c in col) for col in zip(t.headers, *t.rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [t.caption] if t.caption else []
    return "\n".join(out + [line(t.headers), rule] + [line(r) for r in t.rows])


def section(s):
    parts = [f"\n## {s.title}"]
    if s.what:
        parts.append(s.what)
    if s.note:
        parts.append(f"note: {s.note}")
    parts += [table(t) + "\n" for t in s.tables]
    if s.reading:
        parts.append(f"reading: {s.reading}")
    return "\n".join(parts)
