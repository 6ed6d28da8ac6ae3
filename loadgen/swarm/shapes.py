"""StepShape: one LoadTestShape that walks the --levels list, --step-time per level.

It reads loadgen's options at its first tick, so the packaged shapefile needs no code. Each
level's ramp is decided when the level starts (run/plan.py `StepPlan.ramp_at`): from --ramp, or
from about one request's duration, which the conductor measures on the level before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import LoadTestShape

from loadgen.flags import AUTO
from loadgen.run.plan import LevelRamp, PlannedLevel, StepPlan, parse_users
from loadgen.swarm import plugin


def plan_from_options(options: Any) -> StepPlan:
    """The plan: --levels (else --users), --step-time, --warmup, --step-spawn-rate, --ramp
    (open loop: users only wait for arrivals, so they start at once, as before)."""
    users = parse_users(options.levels or str(options.num_users or 1))
    rate = float(options.step_spawn_rate) or None
    ramp = 0.0 if options.rate else options.ramp
    auto = options.step_time == AUTO  # auto levels: --max-step-time is each level's cap
    length = float(options.max_step_time if auto else options.step_time)
    return StepPlan(users, length, float(options.warmup), rate, ramp, auto=auto)


class StepShape(LoadTestShape):  # type: ignore[misc]  # locust is untyped to mypy
    """Level i runs from i*step_time to (i+1)*step_time; returns None (stop) after the last."""

    abstract = True

    def __init__(self) -> None:
        super().__init__()
        self.plan: StepPlan | None = None
        self.ramps: list[LevelRamp] = []  # one per level started, in order
        # The duration of one request now, in seconds (None: unknown); set by the conductor.
        self.expected_request_s: Callable[[], float | None] = lambda: None

    def tick(self) -> tuple[int, float] | None:
        if self.plan is None:
            assert self.runner is not None
            self.plan = plan_from_options(self.runner.environment.parsed_options)
        auto = self.plan.auto
        level = self._auto_level(self.plan) if auto else self.plan.level_at(self.get_run_time())
        if level is None:
            return None
        if len(self.ramps) <= level.index:
            self._start_level(self.plan, level.index)
        return level.users, self.ramps[level.index].spawn_rate

    def _start_level(self, plan: StepPlan, index: int) -> None:
        """Decide the ramp of level `index` (and of any level a late tick skipped), and tell
        every process the users' phase before Locust spawns them."""
        while len(self.ramps) <= index:
            first = len(self.ramps) == 0
            expected_s = self._first_ramp_s() if first else self.expected_request_s()
            self.ramps.append(plan.ramp_at(len(self.ramps), expected_s))
        plugin.announce_phase(self.runner.environment, self.ramps[index].phase_s)

    def _first_ramp_s(self) -> float | None:
        """`loadgen swarm` measures one request before the run (--first-ramp)."""
        value = getattr(self.runner.environment.parsed_options, "first_ramp", None)
        return None if value is None else float(value)

    def ramp_of(self, index: int) -> LevelRamp | None:
        """The ramp level `index` started with; None if it has not started."""
        return self.ramps[index] if index < len(self.ramps) else None

    # Auto levels (--step-time auto) -----------------------------------------------------------
    # The conductor sets `level_done`: True once level `index` has measured enough. A level
    # also ends after plan.step_time_s (--max-step-time).
    level_done: Callable[[int], bool] = staticmethod(lambda _index: False)
    auto_index = 0
    auto_since_s: float | None = None

    def _auto_level(self, plan: StepPlan) -> PlannedLevel | None:
        now_s = self.get_run_time()
        if self.auto_since_s is None:
            self.auto_since_s = now_s
        elif self.level_done(self.auto_index) or now_s - self.auto_since_s >= plan.step_time_s:
            self.auto_index, self.auto_since_s = self.auto_index + 1, now_s
        if self.auto_index >= len(plan.users):
            return None
        since_s, cap_s = self.auto_since_s, plan.step_time_s
        return PlannedLevel(
            self.auto_index, plan.users[self.auto_index], since_s, since_s, since_s + cap_s
        )
