"""The load plan as pure data: levels of users, how long each lasts, how their users start.

A level starts when its users are asked for; its new users start spread over a ramp (by default
about one request's duration, `--ramp`), each after a random phase; its steady window starts
after the warmup or the ramp, whichever is longer, and ends when the next level starts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from loadgen.errors import LoadgenError
from loadgen.levels import wall_end_unix_ns
from loadgen.records import RequestRecord
from loadgen.timing import e2e_ms

FIRST_RAMP_S = 1.0  # the first level's automatic ramp when no probe request measured one
MAX_RAMP_SHARE = 0.5  # an automatic ramp takes at most this share of its level


def parse_users(text: str) -> tuple[int, ...]:
    """'50' or '1,10,50' -> the user count of each level (positive integers)."""
    levels: list[int] = []
    for part in text.split(","):
        try:
            users = int(part.strip())
        except ValueError:
            raise LoadgenError(f"--users: {part.strip()!r} is not a whole number") from None
        if users < 1:
            raise LoadgenError(f"--users: every level needs at least 1 user, got {users}")
        levels.append(users)
    return tuple(levels)


@dataclass(frozen=True, slots=True)
class PlannedLevel:
    """One load level, times relative to the start of the run."""

    index: int
    users: int
    start_s: float
    window_start_s: float  # steady window: warmup and ramp excluded
    end_s: float


@dataclass(frozen=True, slots=True)
class LevelRamp:
    """How a level's new users start: Locust spawns them at `spawn_rate` users/s, so they all
    run after about `ramp_s`; each then waits a random phase in [0, `phase_s`) before its first
    request, which spreads the users of one spawn batch over the gap to the next."""

    ramp_s: float
    spawn_rate: float
    phase_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StepPlan:
    """Walks `users` levels, each `step_time_s` long, reaching each at `spawn_rate` users/s."""

    users: tuple[int, ...]
    step_time_s: float
    warmup_s: float = 0.0
    spawn_rate: float | None = None  # users/s, a burst on purpose; overrides the ramp
    ramp_s: float | None = None  # a level's new users start over this long; None: automatic
    auto: bool = False  # --step-time auto: a level ends once measured; step_time_s is its cap

    def __post_init__(self) -> None:
        if not self.users:
            raise LoadgenError("--users: give at least one level")
        if self.step_time_s <= 0:
            raise LoadgenError("--step-time/--run-time must be longer than 0 s")
        if self.warmup_s < 0 or self.warmup_s >= self.step_time_s:
            raise LoadgenError(
                f"--warmup ({self.warmup_s:g} s) must be shorter than a level"
                f" ({self.step_time_s:g} s)"
            )
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            raise LoadgenError("--spawn-rate must be above 0")
        if self.ramp_s is not None and not 0 <= self.ramp_s < self.step_time_s:
            raise LoadgenError(
                f"--ramp ({self.ramp_s:g} s) must be shorter than a level ({self.step_time_s:g} s)"
            )

    @property
    def rate(self) -> float:
        """Users started (or stopped) per second: --spawn-rate, else the burst rate (every
        level reached within about one second)."""
        return self.spawn_rate if self.spawn_rate is not None else float(max(self.users))

    def ramp_at(self, index: int, expected_request_s: float | None) -> LevelRamp:
        """Level `index`'s ramp. --spawn-rate: Locust's own, no phase. Otherwise the new users
        start over --ramp, or over `expected_request_s` (about one request's duration, measured
        by the caller; None: FIRST_RAMP_S), at most MAX_RAMP_SHARE of the level; `--ramp 0` and
        a level with fewer users than the one before start (or stop) at once."""
        previous = self.users[index - 1] if index else 0
        new_users = self.users[index] - previous
        if self.spawn_rate is not None:
            return LevelRamp(abs(new_users) / self.spawn_rate, self.spawn_rate)
        ramp_s = self.ramp_s
        if ramp_s is None:
            expected_s = FIRST_RAMP_S if expected_request_s is None else expected_request_s
            ramp_s = min(expected_s, self.step_time_s * MAX_RAMP_SHARE)
        if new_users <= 0 or ramp_s <= 0:
            return LevelRamp(0.0, self.rate)
        rate = min(new_users / ramp_s, self.rate)  # never above the burst rate (one batch)
        # Locust starts floor(rate) users (at least one) together, then waits for the next batch
        batch_gap_s = max(1, math.floor(rate)) / rate
        return LevelRamp(ramp_s, rate, min(batch_gap_s, ramp_s))

    @property
    def total_s(self) -> float:
        return self.step_time_s * len(self.users)

    def level_at(self, elapsed_s: float) -> PlannedLevel | None:
        """The level running `elapsed_s` into the run, with its steady window; None once the
        plan is over."""
        if elapsed_s < 0 or elapsed_s >= self.total_s:
            return None
        index = int(elapsed_s // self.step_time_s)
        users = self.users[index]
        previous = self.users[index - 1] if index else 0
        start_s = index * self.step_time_s
        end_s = start_s + self.step_time_s
        ramp_s = self.ramp_s if self.ramp_s is not None and self.spawn_rate is None else 0.0
        ramp_s = max(ramp_s, abs(users - previous) / self.rate)
        window_start_s = min(start_s + max(self.warmup_s, ramp_s), end_s)
        return PlannedLevel(index, users, start_s, window_start_s, end_s)


def expected_request_s(records: Iterable[RequestRecord], since_unix_ns: int) -> float | None:
    """About one request's duration: the median E2E (s) of the successful requests that ended
    at or after `since_unix_ns` (a level's steady window); None if none did."""
    e2e = [e2e_ms(r) / 1000 for r in records if r.ok and wall_end_unix_ns(r) >= since_unix_ns]
    return statistics.median(e2e) if e2e else None
