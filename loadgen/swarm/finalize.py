"""End of a level and of the run: exact summaries from raw records, summary.json and meta.json.

Windows are tracked in the master's wall clock. A record is attributed by its wall-clock end,
wall_send_unix_ns + (t_end_ns − t_send_ns): its latencies come from its own process's monotonic
clock, so records of workers on other hosts land in the right window (clocks kept by NTP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadgen import __version__
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples
from loadgen.summary import LevelSummary, RunSummary, summarize_samples
from loadgen.swarm.context import RunContext
from loadgen.swarm.resources import add_resources
from loadgen.swarm.results import META_FILE, SUMMARY_FILE, write_json
from loadgen.swarm.stages import StageWindow

NS_PER_S = 1_000_000_000


def wall_end_unix_ns(record: RequestRecord) -> int:
    """When the request ended, on its sender's wall clock."""
    return record.wall_send_unix_ns + (record.t_end_ns - record.t_send_ns)


def level_summary(records: list[RequestRecord], stage: StageWindow) -> LevelSummary | None:
    """The level's summary over the records that ended in its steady window; None if it never
    had one."""
    start, end = stage.window_start_unix_ns, stage.window_end_unix_ns
    if not stage.has_window or start is None or end is None:
        return None
    samples = LevelSamples()
    for record in records:
        if start <= wall_end_unix_ns(record) < end:
            samples.add(record)
    return summarize_samples(samples, (end - start) / NS_PER_S, stage.users, stage.index)


def run_summary(
    context: RunContext,
    records: list[RequestRecord],
    stages: list[StageWindow],
    extra_meta: dict[str, Any],
) -> tuple[RunSummary, dict[str, Any]]:
    """(RunSummary, summary.json dict): every level with a window, plus the windows themselves."""
    pairs = [(s, level_summary(records, s)) for s in stages]
    measured = [(s, summary) for s, summary in pairs if summary is not None]
    meta = {
        "engine": context.engine,
        "model": context.model,
        "api": context.api,
        "user_class": context.user_class,
        "target": context.target,
        **extra_meta,
    }
    levels = add_resources([lv for _, lv in measured], stages, context.results_dir)
    summary = RunSummary(context.run_id, tuple(levels), meta)
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
