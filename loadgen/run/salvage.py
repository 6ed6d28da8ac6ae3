"""A run's summary from requests.jsonl alone, for a Locust process that died before writing one.

The levels are what the records tell: each record carries its level's index and users. A level
runs from its first request to the next level's first (the last one to its last record's end);
its window starts after the warmup, as no ramp was observed. Pure: loadgen.summary does the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from loadgen.level_summary import summarize_level
from loadgen.levels import Level, samples_in_window, wall_end_unix_ns
from loadgen.records import RequestRecord
from loadgen.summary import RunMeta, RunSummary
from loadgen.unreachable import with_unreachable


def levels_of(records: Sequence[RequestRecord], warmup_s: float) -> list[Level]:
    """One Level per level index the records carry, in order."""
    by_index: dict[int, list[RequestRecord]] = {}
    for record in records:
        by_index.setdefault(record.stage_index, []).append(record)
    indexes = sorted(by_index)
    starts = [min(r.wall_send_unix_ns for r in by_index[i]) for i in indexes]
    last_end = max((wall_end_unix_ns(r) for r in records), default=0) + 1  # the end is exclusive
    ends = [*starts[1:], last_end]
    return [
        Level(i, by_index[i][0].stage_users, start, start, end, warmup_s)
        for i, start, end in zip(indexes, starts, ends, strict=True)
    ]


def summary_from_records(
    records: Sequence[RequestRecord], meta: RunMeta, warmup_s: float, end_reason: str
) -> RunSummary:
    """An incomplete run's summary: every level the records tell, each over its window; the
    meta's start and end are the first send and the last end when it lacks them."""
    levels = levels_of(records, warmup_s)
    summaries = (summarize_level(samples_in_window(records, lv), lv) for lv in levels)
    if records and meta.start_unix_ns is None:
        first = min(r.wall_send_unix_ns for r in records)
        meta = dataclasses.replace(meta, start_unix_ns=first)
    if records and meta.end_unix_ns is None:
        meta = dataclasses.replace(meta, end_unix_ns=max(wall_end_unix_ns(r) for r in records))
    summary = RunSummary(
        run_id=meta.run_id,
        levels=tuple(s for s in summaries if s is not None),
        meta=meta,
        stages=tuple(levels),
        requests_recorded=len(records),
        complete=False,
        end_reason=end_reason,
    )
    return with_unreachable(summary, records)
