"""The end of `loadgen swarm`, after Locust and the sidecar have exited: what summary.json
still lacks (the InfluxDB sink report, the simulator profile) and the notes to print.

No locust, gevent or click import: the CLI runs this in its own process and prints the notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadgen.results import SUMMARY_FILE, read_sink_reports, read_summary, write_summary
from loadgen.summary import LevelSummary, RunSummary, SinkReport

WINDOW_E2E_FACTOR = 3.0  # a window shorter than this many median E2Es undercounts output tok/s


@dataclass
class RunNotes:
    """Lines for the end of the output: `info` on stdout, `warnings` on stderr."""

    info: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def influx_notes(report: SinkReport) -> RunNotes:
    """The sink report as one line, plus a warning when any point is not in InfluxDB."""
    notes = RunNotes(
        [
            f"influx: {report.written} points written, {report.spilled} spilled, "
            f"{report.rejected} rejected, {report.dropped} dropped"
        ]
    )
    if report.spilled or report.rejected or report.dropped:
        where = f" (spool {report.spool_path}: push it with `loadgen replay`)"
        last = f"; last error: {report.last_error}" if report.last_error else ""
        notes.warnings.append(f"InfluxDB missed points{where if report.spilled else ''}{last}")
    return notes


def short_window_warning(
    levels: Sequence[LevelSummary], factor: float = WINDOW_E2E_FACTOR
) -> str | None:
    """One line naming every level whose steady window is shorter than `factor` × its median
    E2E (or in which no request finished): output tok/s counts only requests that finished
    inside the window, so long requests make a short level undercount."""
    short: list[str] = []
    extra_s = 0.0
    for level in levels:
        e2e_s = level.e2e_p50_ms / 1000 if level.e2e_p50_ms is not None else None
        where = f"level {level.stage_index} ({level.users} users)"
        if level.requests == 0:
            short.append(f"{where}: no request finished in its {level.window_s:.0f} s window")
        elif e2e_s is not None and level.window_s < factor * e2e_s:
            short.append(
                f"{where}: {level.window_s:.0f} s window < {factor:g}x median E2E {e2e_s:.1f} s"
            )
            extra_s = max(extra_s, factor * e2e_s - level.window_s)
    if not short:
        return None
    advice = f" by at least {math.ceil(extra_s)} s" if extra_s > 0 else ""
    return (
        f"{'; '.join(short)}; output tok/s undercounts there: lengthen --step-time"
        f" (--run-time for one level){advice}"
    )


def finish_results(
    results_dir: Path, sim_profile: str | None
) -> tuple[RunSummary | None, RunNotes]:
    """The run's summary, completed with what only this process knows (the InfluxDB sink
    reports of every process, the simulator profile) and written back; the notes to print.
    None when the run wrote no summary."""
    if not (results_dir / SUMMARY_FILE).is_file():
        return None, RunNotes()
    summary = read_summary(results_dir)
    report = read_sink_reports(results_dir)
    meta = replace(summary.meta, sim_profile=sim_profile)
    summary = replace(summary, meta=meta, influx=report)
    write_summary(results_dir, summary)
    notes = influx_notes(report) if report is not None else RunNotes()
    warning = short_window_warning(summary.levels)
    if warning:
        notes.warnings.append(warning)
    return summary, notes
