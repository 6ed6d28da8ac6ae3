"""The slot count read off a closed-loop run's levels (loadgen/slots.py), on constructed levels
whose figures follow a FIFO engine with a known number of slots."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadgen.breakdown import OLLAMA_SOURCE
from loadgen.level_summary import summarize_samples
from loadgen.slots import (
    QUEUE_SHARE,
    TTFT_STAIRCASE,
    LevelLoad,
    level_loads,
    parallel_slots,
)
from loadgen.stats import LevelSamples

SERVICE_S = 0.5  # every request holds a slot this long
BASE_TTFT_MS = 30.0  # prefill + overhead, no wait


def fifo_level(users: int, slots: int, with_queue_share: bool = False) -> LevelLoad:
    """A closed loop of `users` over `slots` (Little's law): throughput and mean wait."""
    busy = min(users, slots)
    req_s = busy / SERVICE_S
    wait_ms = max(0.0, users / req_s - SERVICE_S) * 1000.0
    if not with_queue_share:
        return LevelLoad(users, req_s, BASE_TTFT_MS + wait_ms)
    return LevelLoad(users, req_s, BASE_TTFT_MS + wait_ms, wait_ms, SERVICE_S * 1000.0)


@pytest.mark.parametrize("slots", [1, 2, 4, 7, 48])
def test_the_ttft_staircase_gives_the_slots(slots: int) -> None:
    users = sorted({1, slots, slots + 1, 2 * slots, 3 * slots})
    estimate = parallel_slots([fifo_level(n, slots) for n in users])
    assert estimate is not None
    assert (estimate.slots, estimate.source) == (slots, TTFT_STAIRCASE)
    assert estimate.from_users == tuple(n for n in users if n > slots)
    assert estimate.describe().startswith(f"≈ {slots} parallel slots (from the TTFT staircase")


def test_ollamas_queue_share_gives_the_slots_without_an_idle_level() -> None:
    """The queue share needs no unqueued level to compare with (the staircase does)."""
    estimate = parallel_slots([fifo_level(n, 3, with_queue_share=True) for n in (6, 9, 12)])
    assert estimate is not None
    assert (estimate.slots, estimate.source, estimate.from_users) == (3, QUEUE_SHARE, (6, 9, 12))
    assert "Ollama's queue share at 6, 9, 12 users" in estimate.describe()


def test_refused_users_do_not_count_as_waiting() -> None:
    """Two of six users refused (503) spin outside the queue: the queue share reads the slots
    off the throughput and the time in a slot, so they do not count; the staircase, which
    counts users, leaves such a level out."""
    inside = fifo_level(4, 2, with_queue_share=True)  # 4 users in the engine, 2 slots
    refused = LevelLoad(6, inside.req_s, inside.ttft_mean_ms, inside.queue_mean_ms,
                        inside.slot_mean_ms, error_rate=0.9)  # fmt: skip
    estimate = parallel_slots([fifo_level(1, 2, with_queue_share=True), refused])
    assert estimate is not None and (estimate.slots, estimate.source) == (2, QUEUE_SHARE)
    client_only = LevelLoad(6, inside.req_s, inside.ttft_mean_ms, error_rate=0.9)
    estimate = parallel_slots([fifo_level(1, 2), client_only, fifo_level(4, 2)])
    assert estimate is not None and (estimate.slots, estimate.from_users) == (2, (4,))


def test_noisy_levels_round_to_the_nearest_slot_count() -> None:
    levels = [fifo_level(1, 4), fifo_level(8, 4), fifo_level(12, 4)]
    noisy = [
        levels[0],
        LevelLoad(8, levels[1].req_s * 1.08, levels[1].ttft_mean_ms),  # 3.6 slots read there
        LevelLoad(12, levels[2].req_s * 0.95, levels[2].ttft_mean_ms),  # 4.3
    ]
    estimate = parallel_slots(noisy)
    assert estimate is not None and estimate.slots == 4


def test_without_queueing_only_a_lower_bound() -> None:
    estimate = parallel_slots([fifo_level(n, 16) for n in (1, 4, 8)])
    assert estimate is not None
    assert (estimate.slots, estimate.at_least) == (None, 8)
    assert estimate.describe() == "no queueing up to 8 users: at least 8 slots"


def test_a_small_wait_is_not_queueing() -> None:
    """Half a request waiting on average (QUEUED_MIN) is where queueing starts to count."""
    small = LevelLoad(4, 8.0, BASE_TTFT_MS + 60.0)  # 0.48 requests waiting
    estimate = parallel_slots([fifo_level(1, 4), small])
    assert estimate is not None and (estimate.slots, estimate.at_least) == (None, 4)


def test_levels_that_cannot_tell_give_nothing() -> None:
    assert parallel_slots([]) is None
    assert parallel_slots([LevelLoad(4, 0.0, 100.0), LevelLoad(8, 3.0, None)]) is None


def test_level_loads_read_level_summaries_and_skip_open_loop_levels() -> None:
    samples = LevelSamples()
    closed = summarize_samples(samples, 10.0, users=4, stage_index=0)
    ollama = replace(closed, breakdown_source=OLLAMA_SOURCE, queue_mean_ms=250.0)
    ollama = replace(ollama, prefill_mean_ms=40.0, decode_mean_ms=360.0, error_rate=0.5)
    opened = replace(summarize_samples(samples, 10.0, 4, 1), ttft_sched_p95_ms=12.0)
    loads = level_loads([closed, ollama, opened])
    assert loads == [
        LevelLoad(4, closed.req_s, closed.ttft_mean_ms),
        LevelLoad(4, closed.req_s, closed.ttft_mean_ms, 250.0, 400.0, 0.5),
    ]
