"""End of a level and of the run: each level summarised once from raw records, then the run.

Windows are tracked in the master's wall clock; a record lands in the level whose steady window
holds its wall-clock end (`loadgen.levels.wall_end_unix_ns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadgen import __version__
from loadgen.breakdown import client_ttft_mean_ms
from loadgen.level_summary import LevelSummary, summarize_level, with_resources, with_server
from loadgen.levels import Level, ResourceSeries, first_window, samples_in_window
from loadgen.records import RequestRecord
from loadgen.redact import redact_url
from loadgen.summary import GeneratorVerdict, RunMeta, RunSummary
from loadgen.swarm.context import RunContext
from loadgen.unreachable import with_unreachable


def level_summary(
    records: Sequence[RequestRecord],
    level: Level,
    levels: Sequence[Level],
    series: ResourceSeries,
    server: Mapping[str, Any] | None = None,
) -> LevelSummary | None:
    """The level's summary, with its resource columns and the `server`-side breakdown of its
    window (loadgen/breakdown.py); None if it never had a window."""
    summary = summarize_level(samples_in_window(records, level), level)
    if summary is not None and server:
        start, end = (
            server.get("server_window_start_unix_ns"),
            server.get("server_window_end_unix_ns"),
        )
        client_ttft = (
            None if start is None or end is None else client_ttft_mean_ms(records, start, end)
        )
        summary = with_server(summary, server, client_ttft)
    first = first_window(levels)
    if summary is None or first is None:
        return summary
    (summary,) = with_resources([summary], series, levels[0].start_unix_ns, first)
    return summary


def run_meta(
    context: RunContext,
    argv: list[str],
    target_version: dict[str, Any],
    started_unix_ns: int | None,
    ended_unix_ns: int,
    settings: dict[str, Any],
) -> RunMeta:
    """meta.json: who ran what against which engine, when. Secrets are already redacted."""
    return RunMeta(
        run_id=context.run_id,
        loadgen_version=__version__,
        argv=argv,
        target=redact_url(context.target),
        engine=context.engine,
        target_version=target_version,
        api=context.api,
        model=context.model,
        user_class=context.user_class,
        start_unix_ns=started_unix_ns,
        end_unix_ns=ended_unix_ns,
        settings=settings,
    )


def run_summary(
    meta: RunMeta,
    levels: Sequence[Level],
    summaries: Mapping[int, LevelSummary],
    requests_recorded: int,
    generator: GeneratorVerdict,
    records: Sequence[RequestRecord] = (),
) -> RunSummary:
    """The run: every level that had a window, in order, plus every level observed, and when
    the engine stopped answering (from `records`, every record of the run)."""
    measured = tuple(summaries[lv.index] for lv in levels if lv.index in summaries)
    summary = RunSummary(
        run_id=meta.run_id,
        levels=measured,
        meta=meta,
        stages=tuple(levels),
        requests_recorded=requests_recorded,
        generator=generator,
    )
    return with_unreachable(summary, records)
