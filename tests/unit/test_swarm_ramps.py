"""How a level's users start: ramps from one request's duration, phases, --ramp, --spawn-rate."""

from __future__ import annotations

import math

import pytest

from loadgen.errors import LoadgenError
from loadgen.levels import LevelTracker
from loadgen.records import RequestRecord
from loadgen.run.plan import FIRST_RAMP_S, LevelRamp, StepPlan, expected_request_s

S = 1_000_000_000


def test_automatic_ramp_spreads_new_users_over_one_request() -> None:
    plan = StepPlan((10, 50), step_time_s=60)
    first = plan.ramp_at(0, 2.0)  # 10 users over 2 s: Locust starts 5 every second
    assert first == LevelRamp(2.0, 5.0, 1.0)
    second = plan.ramp_at(1, 2.6)  # 40 more over 2.6 s: 15 every 15/15.4 s
    assert second.ramp_s == 2.6 and second.spawn_rate == pytest.approx(40 / 2.6)
    assert second.phase_s == pytest.approx(15 / (40 / 2.6))
    # the batches and their phases end together with the ramp (to one batch)
    batches = math.ceil(40 / math.floor(second.spawn_rate))
    assert batches * second.phase_s == pytest.approx(2.6, abs=second.phase_s)


def test_slow_ramps_start_one_user_at_a_time_and_fast_ones_in_one_batch() -> None:
    plan = StepPlan((2,), step_time_s=60)
    assert plan.ramp_at(0, 10.0) == LevelRamp(10.0, 0.2, 5.0)  # one user every 5 s
    # a 5 ms request: one batch at the burst rate, each user within the 5 ms
    assert plan.ramp_at(0, 0.005) == LevelRamp(0.005, 2.0, 0.005)


def test_automatic_ramp_defaults_and_caps() -> None:
    plan = StepPlan((4, 8), step_time_s=10)
    assert plan.ramp_at(0, None).ramp_s == FIRST_RAMP_S  # nothing measured
    assert plan.ramp_at(1, 40.0).ramp_s == 5.0  # at most half of a 10 s level


def test_explicit_ramp_burst_spawn_rate_and_fewer_users() -> None:
    assert StepPlan((4,), 10, ramp_s=4.0).ramp_at(0, 99.0) == LevelRamp(4.0, 1.0, 1.0)
    assert StepPlan((4,), 10, ramp_s=0.0).ramp_at(0, 3.0) == LevelRamp(0.0, 4.0)  # burst
    # --spawn-rate: Locust's own spawning, no phase, whatever was measured
    assert StepPlan((1, 9), 10, spawn_rate=2.0).ramp_at(1, 3.0) == LevelRamp(4.0, 2.0)
    assert StepPlan((9, 1), 10).ramp_at(1, 3.0) == LevelRamp(0.0, 9.0)  # users stop at once


@pytest.mark.parametrize("ramp_s", [-1.0, 10.0, 12.0])
def test_a_ramp_must_fit_in_a_level(ramp_s: float) -> None:
    with pytest.raises(LoadgenError, match="--ramp"):
        StepPlan((4,), 10, ramp_s=ramp_s)


def _record(wall_send_s: float, e2e_s: float, ok: bool = True) -> RequestRecord:
    send = int(wall_send_s * S)
    return RequestRecord(
        run_id="r",
        api="openai",
        model="m",
        user_class="Chat",
        worker="w",
        stage_index=0,
        stage_users=1,
        seq=0,
        wall_send_unix_ns=send,
        t_send_ns=0,
        t_end_ns=int(e2e_s * S),
        t_first_ns=1,
        t_last_ns=int(e2e_s * S),
        n_out=1,
        ok=ok,
    )


def test_expected_request_is_the_median_e2e_of_the_window() -> None:
    records = [
        _record(0.0, 9.0),  # ended at 9 s: before the window
        _record(10.0, 2.0),
        _record(10.0, 3.0),
        _record(11.0, 4.0),
        _record(11.0, 50.0, ok=False),  # a failure says nothing about a request's length
    ]
    assert expected_request_s(records, 10 * S) == 3.0
    assert expected_request_s(records, 100 * S) is None


def test_window_waits_for_the_last_phase_and_records_the_ramp() -> None:
    tracker = LevelTracker(warmup_s=0.0)
    tracker.target(10, 0)
    tracker.ramp_done(10, 3 * S, ramp_s=2.5)  # spawned at 2 s, phase up to 1 s
    (level,) = tracker.stop(20 * S)
    assert level.window_start_unix_ns == 3 * S
    assert level.ramp_s == 2.5 and level.to_dict()["ramp_s"] == 2.5
