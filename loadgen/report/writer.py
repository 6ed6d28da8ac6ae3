"""Write a report directory: report.html (self-contained) and one PNG per chart.

The I/O edge of `loadgen report` and `loadgen compare`; the pieces it joins are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadgen.capacity_table import format_capacity
from loadgen.errors import LoadgenError
from loadgen.report.html import render_page
from loadgen.report.plots import build_charts, png_bytes, svg_text
from loadgen.report.runs import RunData
from loadgen.report.tables import (
    Table,
    comparison_table,
    fingerprint_lines,
    fingerprint_table,
    level_table,
)
from loadgen.summary_table import unsteady_lines

HTML_FILE = "report.html"


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """What was written: the HTML page and the PNG of every chart."""

    html: Path
    pngs: tuple[Path, ...]


def report_tables(runs: Sequence[RunData]) -> list[Table]:
    """One per-level table per run, preceded by the side-by-side table when there are several."""
    tables = [level_table(run) for run in runs]
    return [comparison_table(runs), *tables] if len(runs) > 1 else tables


def write_report(runs: Sequence[RunData], out_dir: str | Path, title: str) -> ReportFiles:
    """Render every chart once, then write the PNGs and the HTML page into `out_dir`."""
    if not runs:
        raise LoadgenError("no runs to report")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LoadgenError(f"{out}: cannot create the report directory ({exc})") from None
    charts = build_charts(runs)
    pngs = []
    for chart in charts:
        path = out / f"{chart.name}.png"
        _write(path, png_bytes(chart))
        pngs.append(path)
    svgs = [(c.title, svg_text(c)) for c in charts]
    notes, header = _notes(runs), fingerprint_table(runs)
    page = render_page(
        title,
        report_tables(runs),
        svgs,
        notes,
        capacity_answers(runs),
        header,
        diagnostics=diagnostic_findings(runs),
    )
    html_path = out / HTML_FILE
    _write(html_path, page.encode("utf-8"))
    return ReportFiles(html_path, tuple(pngs))


def diagnostic_findings(runs: Sequence[RunData]) -> list[tuple[str, str]]:
    """(label, text) of every finding of every run's diagnostics (loadgen/diagnostics.py)."""
    return [
        (run.label, finding.text)
        for run in runs
        if run.diagnostics is not None
        for finding in run.diagnostics.findings
    ]


def capacity_answers(runs: Sequence[RunData]) -> list[tuple[str, str]]:
    """(label, the answer as `loadgen capacity` printed it) of each capacity run."""
    return [
        (run.label, format_capacity(run.capacity, run.levels))
        for run in runs
        if run.capacity is not None
    ]


def _notes(runs: Sequence[RunData]) -> list[str]:
    notes = []
    for run in runs:
        notes.append(
            f"{run.label}: run {run.run_id} from {run.path}; {len(run.levels)} level(s), "
            f"{run.n_failed} failed request(s)."
        )
        notes += [f"{run.label}: {line}" for line in unsteady_lines(run.levels)]
    if len(runs) > 1:
        warned, listed = fingerprint_lines(runs)
        notes += [f"Not the same work: {line}" for line in warned]
        notes += [f"Differs: {line}" for line in listed]
    notes.append(
        "Throughput counts output tokens of requests finished inside each level's steady "
        "window (warmup excluded). Per-level numbers are read from each run's summary.json, "
        "VRAM from its sidecar.jsonl."
    )
    return notes


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise LoadgenError(f"{path}: cannot write ({exc})") from None
