"""The end of `loadgen swarm`, after Locust and the sidecar have exited: what summary.json
still lacks (the InfluxDB sink report, the simulator profile) and the notes to print.

No locust, gevent or click import: the CLI runs this in its own process and prints the notes.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadgen.fingerprint import Fingerprint
from loadgen.level_summary import LevelSummary
from loadgen.results import (
    REQUESTS_FILE,
    SUMMARY_FILE,
    read_requests,
    read_sink_reports,
    read_summary,
    write_summary,
)
from loadgen.run.salvage import summary_from_records
from loadgen.steady import WINDOW_E2E_FACTOR  # a shorter window undercounts output tok/s
from loadgen.summary import RunMeta, RunSummary, SinkReport


@dataclass(frozen=True, slots=True)
class ChildEnd:
    """How the Locust child ended, as the CLI saw it."""

    returncode: int
    interrupted: bool = False  # Ctrl-C (or SIGTERM) reached the CLI

    @property
    def end_reason(self) -> str:
        """Why the run is incomplete; "" when the child ended by itself."""
        if self.interrupted:
            return "interrupted (SIGINT)"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"the Locust process was killed by {name}"
        return ""


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
    levels: Sequence[LevelSummary], factor: float = WINDOW_E2E_FACTOR, auto: bool = False
) -> str | None:
    """One line naming every level whose steady window is shorter than `factor` × its median
    E2E (or in which no request finished): output tok/s counts only requests that finished
    inside the window, so long requests make a short level undercount. `auto`: the levels
    were auto levels, so only their cap (--max-step-time) was too short."""
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
    flag = "--max-step-time" if auto else "--step-time (--run-time for one level)"
    return f"{'; '.join(short)}; output tok/s undercounts there: lengthen {flag}{advice}"


def finish_results(
    results_dir: Path,
    sim_profile: str | None,
    end: ChildEnd | None = None,
    fallback_meta: RunMeta | None = None,
    warmup_s: float = 0.0,
    auto: bool = False,
    fingerprint: Fingerprint | None = None,
) -> tuple[RunSummary | None, RunNotes]:
    """The run's summary, completed with what only this process knows (the InfluxDB sink
    reports of every process, the simulator profile, the fingerprint gathered before the load,
    how the Locust child ended) and written
    back with meta.json; the notes to print. A child that wrote no summary gets one from
    requests.jsonl (`fallback_meta` stands in for its meta). None when there is neither."""
    reason = end.end_reason if end is not None else ""
    summary = _summary_or_salvage(results_dir, fallback_meta, warmup_s, reason)
    if summary is None:
        return None, RunNotes()
    if reason and summary.complete:
        summary = replace(summary, complete=False, end_reason=reason)
    report = read_sink_reports(results_dir)
    meta = replace(summary.meta, sim_profile=sim_profile)
    if fingerprint is not None:
        meta = replace(meta, fingerprint=fingerprint)
    summary = replace(summary, meta=meta, influx=report)
    notes = influx_notes(report) if report is not None else RunNotes()
    try:
        write_summary(results_dir, summary)
    except OSError as exc:
        where = results_dir / SUMMARY_FILE
        line = f"cannot write {where}: {exc.strerror or exc}; the summary above is not saved"
        notes.warnings.append(line)
    warning = short_window_warning(summary.levels, auto=auto)
    if warning:
        notes.warnings.append(warning)
    return summary, notes


def _summary_or_salvage(
    results_dir: Path, fallback_meta: RunMeta | None, warmup_s: float, reason: str
) -> RunSummary | None:
    if (results_dir / SUMMARY_FILE).is_file():
        return read_summary(results_dir)
    if not (results_dir / REQUESTS_FILE).is_file():
        return None
    records = read_requests(results_dir)
    if not records:
        return None
    meta = fallback_meta or RunMeta(run_id=records[0].run_id)
    return summary_from_records(records, meta, warmup_s, reason or "the run wrote no summary")
