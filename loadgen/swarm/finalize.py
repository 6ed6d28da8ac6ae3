"""End of a level and of the run: exact summaries from raw records, summary.json and meta.json.

Windows are tracked in wall-clock ns (for storage and reports) and converted to the
perf_counter clock of the records with one offset measured in this process (same host).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loadgen import __version__
from loadgen.records import RequestRecord
from loadgen.summary import LevelSummary, RunSummary, summarize_level
from loadgen.swarm.context import RunContext
from loadgen.swarm.results import META_FILE, SUMMARY_FILE, write_json
from loadgen.swarm.stages import StageWindow


def clock_offset_ns() -> int:
    """perf_counter_ns − time_ns right now: wall + offset = the records' monotonic clock."""
    return time.perf_counter_ns() - time.time_ns()


def level_summary(
    records: list[RequestRecord], stage: StageWindow, offset_ns: int
) -> LevelSummary | None:
    """The level's summary over its steady window; None if it never had one."""
    start, end = stage.window_start_unix_ns, stage.window_end_unix_ns
    if not stage.has_window or start is None or end is None:
        return None
    return summarize_level(records, start + offset_ns, end + offset_ns, stage.users, stage.index)


def run_summary(
    context: RunContext,
    records: list[RequestRecord],
    stages: list[StageWindow],
    offset_ns: int,
    extra_meta: dict[str, Any],
) -> tuple[RunSummary, dict[str, Any]]:
    """(RunSummary, summary.json dict): every level with a window, plus the windows themselves."""
    pairs = [(s, level_summary(records, s, offset_ns)) for s in stages]
    measured = [(s, summary) for s, summary in pairs if summary is not None]
    meta = {
        "engine": context.engine,
        "model": context.model,
        "api": context.api,
        "user_class": context.user_class,
        "target": context.target,
        **extra_meta,
    }
    summary = RunSummary(context.run_id, tuple(lv for _, lv in measured), meta)
    data = summary.to_dict()
    for level_dict, (stage, _) in zip(data["levels"], measured, strict=True):
        level_dict["window_start_unix_ns"] = stage.window_start_unix_ns
        level_dict["window_end_unix_ns"] = stage.window_end_unix_ns
    data["engine"] = context.engine
    data["stages"] = [s.to_dict() for s in stages]
    data["requests_recorded"] = len(records)
    return summary, data


def write_results(results_dir: Path, summary_data: dict[str, Any], meta: dict[str, Any]) -> None:
    write_json(results_dir / SUMMARY_FILE, summary_data)
    write_json(results_dir / META_FILE, meta)


def run_meta(
    context: RunContext,
    argv: list[str],
    target_version: dict[str, Any],
    started_unix_ns: int | None,
    ended_unix_ns: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """meta.json: who ran what against which engine, when. Secrets are already redacted."""
    return {
        "run_id": context.run_id,
        "loadgen_version": __version__,
        "argv": argv,
        "target": context.target,
        "engine": context.engine,
        "target_version": target_version,
        "api": context.api,
        "model": context.model,
        "user_class": context.user_class,
        "start_unix_ns": started_unix_ns,
        "end_unix_ns": ended_unix_ns,
        "settings": settings,
    }
