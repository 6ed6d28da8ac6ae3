"""ITL's resolution: frames read together share a stamp, so their gap reads 0 ms. A level counts
its gaps and those zero ones, and the table names a level where many read 0, since its ITL
percentiles are then not resolved below the reader's tick (docs/swarm.md)."""

from __future__ import annotations

import dataclasses

from loadgen import schema
from loadgen.level_summary import summarize_samples
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table, itl_resolution_lines
from tests.unit.test_timing import MS, record


def _summary(records: list[RequestRecord]) -> RunSummary:
    samples = LevelSamples()
    for r in records:
        samples.add(r)
    return RunSummary("r", (summarize_samples(samples, 10.0, users=2),), RunMeta("r"))


def _frames(*times_ms: int) -> RequestRecord:
    frames = tuple(t * MS for t in times_ms)
    return record(frame_times_ns=frames, t_first_ns=frames[0], t_last_ns=frames[-1])


def test_a_level_counts_its_gaps_and_those_read_together() -> None:
    samples = LevelSamples()
    samples.add(_frames(1100, 1120, 1150, 1200))  # 3 gaps, none shared
    samples.add(_frames(1100, 1100, 1100, 1130))  # 3 gaps, 2 shared
    samples.add(dataclasses.replace(_frames(1100, 1100), ok=False, error_type="truncated"))
    assert (samples.itl_gaps, samples.itl_shared_gaps) == (6, 2)


def test_the_table_names_a_level_with_many_shared_gaps_and_is_silent_without() -> None:
    resolved = _summary([_frames(1100, 1120, 1150, 1200) for _ in range(3)])
    assert itl_resolution_lines(resolved.levels) == []
    assert "inter-token gaps" not in format_table(resolved)
    # 20 gaps, one read 0 ms: 5 %, not more than the 5 % a level may have unnoted
    few = _summary([_frames(*range(1100, 1121)), _frames(1100, 1100)])
    assert (few.levels[0].itl_gaps, few.levels[0].itl_shared_gaps) == (21, 1)
    assert itl_resolution_lines(few.levels) == []
    together = _summary([_frames(1100, 1100, 1100, 1130)] * 2)
    assert format_table(together).splitlines()[-1] == (
        "level 0 (2 users): 67% of inter-token gaps read 0 ms (frames closer together than the"
        " reader's tick share a read): ITL is not resolved below the tick, TPOT is"
        " (--itl-resolution; docs/swarm.md)"
    )


def test_the_counts_reach_the_stage_point_and_summary_json() -> None:
    level = _summary([_frames(1100, 1100, 1130)]).levels[0]
    fields = dict(schema.stage_point(level, {"run_id": "r"}, 0, 10**10).fields)
    assert (fields["itl_gaps"], fields["itl_shared_gaps"]) == (2, 1)
    assert dataclasses.asdict(level)["itl_shared_gaps"] == 1
