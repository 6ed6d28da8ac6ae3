"""Per-level tables as header + rows of strings: one run's levels, and runs side by side.

Pure. The side-by-side table has the reference table's layout: per user level, each run's
output tok/s, each later run's ratio to the first, then each run's TTFT p50/p95 and peak VRAM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.fingerprint import differences, value_text
from loadgen.level_summary import LevelSummary
from loadgen.report.runs import RunData

MISSING = "-"


@dataclass(frozen=True, slots=True)
class Table:
    """A caption, column headers and rows of already formatted cells."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def fmt_num(value: float | None, digits: int = 0) -> str:
    """1234.5 -> '1,234' (digits=0) or '1,234.50' (digits=2); None -> '-'."""
    return MISSING if value is None else f"{value:,.{digits}f}"


def fmt_gb(value_bytes: int | None) -> str:
    """Bytes as decimal GB with one decimal, as the reference table prints VRAM."""
    return MISSING if value_bytes is None else f"{value_bytes / 1e9:.1f}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0:
        return MISSING
    return f"{num / den:.2f}x"


def level_table(run: RunData) -> Table:
    """One run: every level with throughput, latency percentiles, errors and VRAM."""
    header = (
        "users",
        "req/s",
        "output tok/s",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "TTFT p99 ms",
        "E2E p95 ms",
        "requests",
        "errors %",
        "peak VRAM GB",
        "steady",
    )
    rows = tuple(
        (
            str(r.users),
            fmt_num(r.req_s, 2),
            fmt_num(r.output_tok_s),
            fmt_num(r.ttft_p50_ms),
            fmt_num(r.ttft_p95_ms),
            fmt_num(r.ttft_p99_ms),
            fmt_num(r.e2e_p95_ms),
            str(r.requests),
            f"{100 * r.error_rate:.1f}",
            fmt_gb(r.vram_peak_bytes),
            MISSING if r.steady is None else ("yes" if r.steady else "NO"),
        )
        for r in run.levels
    )
    idle = f", idle VRAM {fmt_gb(run.vram_idle_bytes)} GB" if run.vram_idle_bytes else ""
    return Table(f"{run.label} (run {run.run_id}{idle})", header, rows)


def user_levels(runs: Sequence[RunData]) -> list[int]:
    """Every user count that any run measured, ascending."""
    return sorted({r.users for run in runs for r in run.levels})


def _at(run: RunData, users: int) -> LevelSummary | None:
    # A run that visited a level twice (e.g. a ramp down) reports its last visit.
    matches = [r for r in run.levels if r.users == users]
    return matches[-1] if matches else None


def comparison_table(runs: Sequence[RunData]) -> Table:
    """Runs side by side per user level; ratios are relative to the first run."""
    base = runs[0]
    header: list[str] = ["users"]
    header += [f"{r.label} tok/s" for r in runs]
    header += [f"{r.label}/{base.label}" for r in runs[1:]]
    header += [f"{r.label} TTFT p50/p95 ms" for r in runs]
    header += [f"{r.label} VRAM GB" for r in runs]
    rows = [_comparison_row(runs, users) for users in user_levels(runs)]
    caption = " vs ".join(f"{r.label} ({r.run_id})" for r in runs)
    return Table(caption, tuple(header), tuple(rows))


def _comparison_row(runs: Sequence[RunData], users: int) -> tuple[str, ...]:
    levels = [_at(run, users) for run in runs]
    tok = [lv.output_tok_s if lv else None for lv in levels]
    cells = [str(users)]
    cells += [fmt_num(t) for t in tok]
    cells += [fmt_ratio(t, tok[0]) for t in tok[1:]]
    cells += [
        f"{fmt_num(lv.ttft_p50_ms)} / {fmt_num(lv.ttft_p95_ms)}" if lv else MISSING for lv in levels
    ]
    cells += [fmt_gb(lv.vram_peak_bytes) if lv else MISSING for lv in levels]
    return tuple(cells)


def fingerprint_table(runs: Sequence[RunData]) -> Table | None:
    """What each run ran on and what it asked for (meta.json's fingerprint), a column per run;
    None when no run has one (runs from before loadgen recorded it)."""
    flats = [run.fingerprint.flat() if run.fingerprint else {} for run in runs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    if not keys:
        return None
    rows = tuple((key, *(value_text(key, flat.get(key)) for flat in flats)) for key in keys)
    return Table("Run fingerprint", ("", *(run.label for run in runs)), rows)


def fingerprint_lines(runs: Sequence[RunData]) -> tuple[list[str], list[str]]:
    """(warnings, listed): each later run's differences from the first. A workload or model
    difference is a warning (the runs did not do the same work); GPU, engine, host and loadgen
    differences are listed, being what a comparison usually sets out to vary."""
    base = runs[0]
    warned: list[str] = []
    listed: list[str] = []
    for run in runs[1:]:
        if base.fingerprint is None or run.fingerprint is None:
            continue
        for diff in differences(base.fingerprint, run.fingerprint):
            (warned if diff.warned else listed).append(diff.line(run.label, base.label))
    return warned, listed


def render_text(table: Table) -> str:
    """A Markdown pipe table (readable in a terminal, pasteable into an issue)."""
    widths = [len(h) for h in table.header]
    for row in table.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([table.caption, "", line(table.header), rule, *map(line, table.rows)])
