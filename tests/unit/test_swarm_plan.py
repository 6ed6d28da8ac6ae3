"""The load plan and the observed level windows: pure, driven with fake times."""

from __future__ import annotations

import pytest

from loadgen.errors import LoadgenError
from loadgen.flags import parse_duration_s
from loadgen.levels import LevelTracker
from loadgen.run.plan import StepPlan, parse_users

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0), ("2.5s", 2.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "5x", "1m 5s", "-3s"])
def test_bad_durations_are_one_line_errors(text: str) -> None:
    with pytest.raises(LoadgenError, match="cannot read"):
        parse_duration_s(text, "--run-time")


def test_users_list() -> None:
    assert parse_users("1, 10,50") == (1, 10, 50)
    for bad in ("0", "a,b", "1,,2", "-4"):
        with pytest.raises(LoadgenError, match="--users"):
            parse_users(bad)


def test_levels_exclude_warmup_and_ramp() -> None:
    plan = StepPlan((1, 10, 50), step_time_s=60, warmup_s=10, spawn_rate=2)
    levels = [lv for t in (0.0, 60.0, 179.9) if (lv := plan.level_at(t)) is not None]
    assert [lv.index for lv in levels] == [0, 1, 2]
    assert [lv.users for lv in levels] == [1, 10, 50]
    assert [lv.start_s for lv in levels] == [0, 60, 120]
    assert [lv.end_s for lv in levels] == [60, 120, 180]
    # ramp 1/2 s < warmup; 9/2 = 4.5 s < warmup; 40/2 = 20 s > warmup
    assert [lv.window_start_s for lv in levels] == [10, 70, 140]
    assert plan.total_s == 180
    assert plan.level_at(59.9).index == 0  # type: ignore[union-attr]
    assert plan.level_at(60.0).index == 1  # type: ignore[union-attr]
    assert plan.level_at(180.0) is None


def test_default_spawn_rate_reaches_each_level_in_about_a_second() -> None:
    assert StepPlan((1, 10, 50), 60).rate == 50


@pytest.mark.parametrize(
    ("users", "step", "warmup", "rate"),
    [((), 5, 0, None), ((1,), 0, 0, None), ((1,), 5, 5, None), ((1,), 5, 0, 0.0)],
)
def test_bad_plans(users: tuple[int, ...], step: float, warmup: float, rate: float | None) -> None:
    with pytest.raises(LoadgenError):
        StepPlan(users, step, warmup, rate)


def test_tracker_windows_follow_observations() -> None:
    tracker = LevelTracker(warmup_s=2.0)
    assert tracker.target(0, 0) == []  # nothing asked for yet
    tracker.target(1, 10 * S)
    tracker.ramp_done(1, 10 * S + 1000)
    closed = tracker.target(4, 20 * S)  # the next level ends the first
    assert [c.index for c in closed] == [0]
    first = closed[0]
    assert first.window_start_unix_ns == 12 * S  # warmup dominates a fast ramp
    assert first.window_end_unix_ns == 20 * S and first.has_window
    tracker.ramp_done(2, 23 * S)  # not all 4 users yet: ignored
    tracker.ramp_done(4, 25 * S)  # a ramp longer than the warmup dominates
    (second,) = tracker.stop(30 * S)
    assert (second.users, second.window_start_unix_ns, second.end_unix_ns) == (4, 25 * S, 30 * S)
    assert tracker.stop(31 * S) == []  # stopping twice closes nothing


def test_level_cut_short_has_no_window() -> None:
    tracker = LevelTracker(warmup_s=5.0)
    tracker.target(3, 0)
    tracker.ramp_done(3, 1 * S)
    (only,) = tracker.stop(4 * S)  # stopped before its warmup ended
    assert not only.has_window
    assert tracker.target(3, 5 * S) == []  # a new level after a stop
    assert tracker.current is not None and tracker.current.index == 1
