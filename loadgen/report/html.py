"""One self-contained HTML page: tables plus inline SVG charts, no external JS, CSS or fonts.

Pure: strings in, a string out. Every chart sits in a `<figure class="chart">`, so a browser
test can count them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from loadgen.report.tables import Table

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure.chart { margin: 0; width: 640px; }
figure.chart svg { width: 100%; height: auto; }
caption { text-align: left; font-weight: bold; padding-bottom: 4px; }
section.capacity pre { font-size: 13px; background: #f7f7f7; padding: 8px; }
ul.diagnostics li { margin: 4px 0; }
"""


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    caption = html.escape(table.caption)
    return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"


def chart_html(title: str, svg: str) -> str:
    return f'<figure class="chart" title="{html.escape(title)}">{svg}</figure>'


def answer_html(label: str, text: str) -> str:
    """One `loadgen capacity` answer, as the command printed it."""
    head = f"<h3>{html.escape(label)}</h3>"
    return f'<section class="capacity">{head}<pre>{html.escape(text)}</pre></section>'


def diagnostics_html(findings: Sequence[tuple[str, str]]) -> list[str]:
    """Ollama's capacity traps, one list item per finding (run label, text); none: nothing."""
    if not findings:
        return []
    items = "".join(
        f"<li><b>{html.escape(label)}</b>: {html.escape(text)}</li>" for label, text in findings
    )
    return ["<h2>Diagnostics</h2>", f'<ul class="diagnostics">{items}</ul>']


def render_page(
    title: str,
    tables: Sequence[Table],
    charts: Sequence[tuple[str, str]],
    notes: Sequence[str],
    answers: Sequence[tuple[str, str]] = (),
    header: Table | None = None,
    diagnostics: Sequence[tuple[str, str]] = (),
) -> str:
    """`charts` are (title, inline svg) pairs; `notes` are short lines shown under the title;
    `answers` are (run label, text) of each capacity search, shown first; `header` (the runs'
    fingerprint) right under the notes; `diagnostics` are (run label, finding) of every run's
    capacity traps, listed next."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(n)}</p>" for n in notes),
        *([table_html(header)] if header is not None else []),
        *diagnostics_html(diagnostics),
        *(["<h2>Capacity</h2>"] if answers else []),
        *(answer_html(label, text) for label, text in answers),
        "<h2>Per-level results</h2>",
        *(table_html(t) for t in tables),
        "<h2>Charts</h2>",
        '<div class="charts">',
        *(chart_html(t, svg) for t, svg in charts),
        "</div></body></html>",
    ]
    return "\n".join(parts)
