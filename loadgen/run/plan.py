"""The load plan as pure data: levels of users, how long each lasts, and each level's steady window.

A level starts when its users are asked for; its steady window starts after the warmup or the
ramp (|Δusers| / spawn rate), whichever is longer, and ends when the next level starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.errors import LoadgenError


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
class StepPlan:
    """Walks `users` levels, each `step_time_s` long, reaching each at `spawn_rate` users/s."""

    users: tuple[int, ...]
    step_time_s: float
    warmup_s: float = 0.0
    spawn_rate: float | None = None  # None: reach every level within about one second
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

    @property
    def rate(self) -> float:
        """Users started (or stopped) per second when moving between levels."""
        return self.spawn_rate if self.spawn_rate is not None else float(max(self.users))

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
        ramp_s = abs(users - previous) / self.rate
        window_start_s = min(start_s + max(self.warmup_s, ramp_s), end_s)
        return PlannedLevel(index, users, start_s, window_start_s, end_s)
