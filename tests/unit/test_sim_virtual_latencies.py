"""The virtual-time runner's percentiles and true capacity: what `loadgen capacity` is held to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loadgen.sim.profiles import Profile, load_profile
from loadgen.sim.virtual import (
    LoopLatencies,
    closed_loop,
    closed_loop_latencies,
    time_scaled,
    true_capacity,
)

SLOTS = Profile(
    name="slots4", scheduler="fifo", max_running=4, step_base_ms=20.0, step_per_seq_ms=2.0
)


def test_latencies_run_the_same_loop_as_closed_loop() -> None:
    profile = load_profile("vllm-4090-llama8b")
    plain = closed_loop(profile, 10, 128, 256)
    timed = closed_loop_latencies(profile, 10, 128, 256)
    assert (timed.output_tok_s, timed.requests) == (plain.output_tok_s, plain.requests)
    assert timed.ttft_p50_ms is not None and timed.ttft_p95_ms is not None
    assert timed.ttft_p50_ms <= timed.ttft_p95_ms <= (timed.ttft_p99_ms or 0)
    assert timed.itl_p50_ms is not None and timed.itl_p50_ms >= profile.step_base_ms


def test_ttft_jumps_once_users_exceed_the_slots() -> None:
    within = closed_loop_latencies(SLOTS, 4, 16, 16, duration_s=20, warmup_s=5, ramp_s=1)
    beyond = closed_loop_latencies(SLOTS, 5, 16, 16, duration_s=20, warmup_s=5, ramp_s=1)
    assert within.ttft_p95_ms is not None and beyond.ttft_p95_ms is not None
    assert within.ttft_p95_ms < 100 < 200 < beyond.ttft_p95_ms  # a queued request waits


def test_true_capacity_is_the_slot_limit_and_the_last_user_that_holds() -> None:
    def fast_first_token(run: object) -> bool:
        value = getattr(run, "ttft_p95_ms", None)
        return value is not None and value <= 100

    assert true_capacity(SLOTS, fast_first_token, 16, 16, max_users=64, duration_s=20) == 4
    assert true_capacity(SLOTS, fast_first_token, 16, 16, max_users=3, duration_s=20) == 3
    assert true_capacity(SLOTS, lambda run: False, 16, 16, max_users=8, duration_s=20) == 0


def test_a_time_scaled_profile_has_scaled_latencies_and_the_same_capacity() -> None:
    profile = load_profile("ollama-4090-llama8b")
    quarter = time_scaled(profile, 0.25)
    plain = closed_loop_latencies(profile, 8, 128, 32, duration_s=40, warmup_s=20, ramp_s=10)
    fast = closed_loop_latencies(quarter, 8, 128, 32, duration_s=10, warmup_s=5, ramp_s=2.5)
    assert fast.requests == plain.requests
    assert fast.ttft_p95_ms == pytest.approx((plain.ttft_p95_ms or 0) / 4, rel=1e-3)
    assert fast.itl_p50_ms == pytest.approx((plain.itl_p50_ms or 0) / 4, rel=1e-3)

    def within(limit_ms: float) -> Callable[[LoopLatencies], bool]:
        return lambda run: run.itl_p99_ms is not None and run.itl_p99_ms <= limit_ms

    assert true_capacity(quarter, within(25), 128, 256, 96, 60) == 13
    assert true_capacity(profile, within(100), 128, 256, 96, 240) == 13
