"""Steady windows in a level's summary, the table, the exit code (--require-steady), the
short-window advice for auto levels, and --step-time auto as a flag."""

from __future__ import annotations

import dataclasses

import pytest

from loadgen.errors import EXIT_OK, EXIT_SLO_BREACH, LoadgenError
from loadgen.flags import FLAG, MAX_STEP_TIME_S
from loadgen.level_summary import summarize_level
from loadgen.levels import Level, LevelTracker
from loadgen.run.run_end import short_window_warning
from loadgen.run.verdicts import steady_verdict
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table

S = 1_000_000_000
REASON = "not settled: last 3 intervals of 5 s: output tok/s within ±45 % (allowed ±24 %)"


def _level(steady: bool | None, start_s: float | None = None, reason: str = "") -> Level:
    level = Level(1, 50, 0, ramp_done_unix_ns=2 * S, end_unix_ns=60 * S)
    start = None if start_s is None else int(start_s * S)
    return dataclasses.replace(
        level, steady=steady, steady_start_unix_ns=start, steady_reason=reason
    )


def _run(*levels: Level) -> RunSummary:
    summaries = [summarize_level(LevelSamples(), level) for level in levels]
    return RunSummary("r", tuple(s for s in summaries if s is not None), RunMeta("r"))


def test_the_window_starts_when_the_level_settled_and_the_summary_says_so() -> None:
    summary = summarize_level(LevelSamples(), _level(True, 17.5, "settled over ..."))
    assert summary is not None
    assert summary.window_start_unix_ns == summary.steady_start_unix_ns == int(17.5 * S)
    assert summary.window_s == 60 - 17.5
    assert (summary.steady, summary.steady_reason) == (True, "settled over ...")
    unsteady = summarize_level(LevelSamples(), _level(False, None, REASON))
    assert unsteady is not None and unsteady.window_start_unix_ns == 2 * S  # its floor
    assert (unsteady.steady, unsteady.steady_start_unix_ns) == (False, None)


def test_the_tracker_records_the_verdict() -> None:
    tracker = LevelTracker(warmup_s=0.0)
    tracker.target(10, 0)
    tracker.ramp_done(10, S)
    tracker.stop(30 * S)
    level = tracker.judged(0, True, 6 * S, "settled")
    assert tracker.levels[0] == level and level.window_start_unix_ns == 6 * S


def test_the_table_flags_a_level_that_never_settled() -> None:
    lines = format_table(_run(_level(True, 10.0, "ok"), _level(False, None, REASON))).splitlines()
    assert lines[0].split()[-1] == "steady"
    assert lines[1].split()[-1] == "yes" and lines[2].split()[-1] == "NO"
    assert lines[3] == f"level 1 (50 users) not steady: {REASON}"
    assert "steady" not in format_table(_run(_level(None)))  # a run from before: no column


def test_require_steady_exits_1_naming_the_level_and_why() -> None:
    run = _run(_level(True, 10.0, "ok"), _level(False, None, REASON))
    verdict = steady_verdict(run, require_steady=True)
    assert verdict.code == EXIT_SLO_BREACH
    assert verdict.lines == [
        f"loadgen: level 1 (50 users) never settled: {REASON}; see --require-steady"
    ]
    assert steady_verdict(run, require_steady=False).code == EXIT_OK
    assert steady_verdict(_run(_level(True, 10.0)), require_steady=True).lines == []


def test_the_short_window_advice_names_the_cap_for_auto_levels() -> None:
    summary = summarize_level(LevelSamples(), _level(True, 50.0))
    assert summary is not None
    short = dataclasses.replace(summary, requests=8, e2e_p50_ms=40_000.0)
    fixed = short_window_warning([short])
    auto = short_window_warning([short], auto=True)
    assert fixed is not None and "lengthen --step-time (--run-time for one level)" in fixed
    assert auto is not None and "lengthen --max-step-time by at least 110 s" in auto


def test_step_time_is_auto_by_default_and_takes_auto_or_a_duration() -> None:
    step, run = FLAG["step-time"], FLAG["run-time"]
    assert step.default == run.default == "auto"
    assert step.parse("auto") == run.parse(" AUTO ") == "auto"
    assert step.parse("90s") == 90.0
    assert FLAG["max-step-time"].default == MAX_STEP_TIME_S == 600.0
    with pytest.raises(LoadgenError, match="--step-time: cannot read 'automatic'"):
        step.parse("automatic")
