"""How many requests the engine runs at once (Ollama's OLLAMA_NUM_PARALLEL), read off the levels
of a closed-loop run with Little's law. Pure: level figures in, an estimate out.

A level whose requests queue (L_q = req/s × W ≥ QUEUED_MIN requests waiting on average, W the
mean queue wait) keeps every slot busy, so the busy slots are the slots:

- from Ollama's durations (the "queue share"): W = total − load − prompt_eval − eval, and
  slots = req/s × S, S = prompt_eval + eval, the time a request holds its slot;
- from the client alone (the "TTFT staircase"): W = the rise of the mean TTFT over the least
  loaded level (each time the users pass a multiple of the slots a request waits about one
  more service time, which the mean smooths into a ramp of slope service time ÷ slots), and
  with N closed-loop users and no think time, slots = N − L_q. Levels with errors are left out
  there: a refused user is not waiting in the queue.

A level without queueing says only that there are at least that many slots.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadgen.breakdown import OLLAMA_SOURCE

if TYPE_CHECKING:  # loadgen.summary holds the diagnostics, which hold a SlotEstimate
    from loadgen.level_summary import LevelSummary

QUEUED_MIN = 0.5  # mean requests waiting for a level to count as queued
MAX_ERROR_RATE = 0.05  # the staircase leaves out levels with more failures
QUEUE_SHARE = "queue_share"  # W from Ollama's durations
TTFT_STAIRCASE = "ttft_staircase"  # W from the rise of the client's mean TTFT


@dataclass(frozen=True, slots=True)
class LevelLoad:
    """What the estimate needs of one closed-loop level."""

    users: int
    req_s: float  # successful requests per second in the window
    ttft_mean_ms: float | None
    queue_mean_ms: float | None = None  # Ollama's queue share, when the engine reports it
    slot_mean_ms: float | None = None  # Ollama's prompt_eval + eval: the time in a slot
    error_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class SlotEstimate:
    """≈ `slots` parallel slots, read from the levels with these users; or, when no level
    queued, at least `at_least`."""

    slots: int | None
    at_least: int
    source: str  # QUEUE_SHARE or TTFT_STAIRCASE
    from_users: tuple[int, ...] = ()  # the queued levels it was read from

    def describe(self) -> str:
        how = "Ollama's queue share" if self.source == QUEUE_SHARE else "the TTFT staircase"
        if self.slots is None:
            return f"no queueing up to {self.at_least} users: at least {self.at_least} slots"
        users = ", ".join(map(str, self.from_users))
        return f"≈ {self.slots} parallel slots (from {how} at {users} users)"


def level_loads(levels: Sequence[LevelSummary]) -> list[LevelLoad]:
    """The closed-loop levels as LevelLoads, with Ollama's queue and slot means when the level
    has its breakdown (loadgen/breakdown.py)."""
    out = []
    for lv in levels:
        if lv.ttft_sched_p95_ms is not None:  # an open-loop level has no fixed number of users
            continue
        queue = slot = None
        prefill, decode = lv.prefill_mean_ms, lv.decode_mean_ms
        if lv.breakdown_source == OLLAMA_SOURCE and prefill is not None and decode is not None:
            queue, slot = lv.queue_mean_ms, prefill + decode
        out.append(LevelLoad(lv.users, lv.req_s, lv.ttft_mean_ms, queue, slot, lv.error_rate))
    return out


def parallel_slots(loads: Sequence[LevelLoad]) -> SlotEstimate | None:
    """The slot count, from the queue share when every level has it, else from the TTFT
    staircase; None when the levels do not tell (no level with a TTFT and a throughput)."""
    usable = [lv for lv in loads if lv.req_s > 0 and lv.ttft_mean_ms is not None]
    server = [lv for lv in usable if lv.queue_mean_ms is not None and lv.slot_mean_ms is not None]
    if usable and len(server) == len(usable):
        waits_ms = [lv.queue_mean_ms or 0.0 for lv in usable]
        busy = [lv.req_s * (lv.slot_mean_ms or 0.0) / 1000.0 for lv in usable]
        source = QUEUE_SHARE
    else:
        usable = [lv for lv in usable if lv.error_rate <= MAX_ERROR_RATE]
        base_ms = min((lv.ttft_mean_ms or 0.0 for lv in usable), default=0.0)
        waits_ms = [max(0.0, (lv.ttft_mean_ms or 0.0) - base_ms) for lv in usable]
        busy = [lv.users - lv.req_s * w / 1000.0 for lv, w in zip(usable, waits_ms, strict=True)]
        source = TTFT_STAIRCASE
    if not usable:
        return None
    queued: list[tuple[int, float]] = []  # (users, slots read there)
    at_least = 0
    for lv, wait_ms, slots_busy in zip(usable, waits_ms, busy, strict=True):
        if lv.req_s * wait_ms / 1000.0 >= QUEUED_MIN:
            queued.append((lv.users, slots_busy))
        else:
            at_least = max(at_least, round(slots_busy))
    if not queued:
        return SlotEstimate(None, max(1, at_least), source)
    slots = max(1, round(statistics.median(k for _, k in queued)), at_least)
    return SlotEstimate(slots, max(1, at_least), source, tuple(users for users, _ in queued))
