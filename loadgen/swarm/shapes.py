"""StepShape: one LoadTestShape that walks the --levels list, --step-time per level.

It reads loadgen's options at its first tick, so the packaged shapefile needs no code.
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from loadgen.run.plan import StepPlan, parse_users


def plan_from_options(options: Any) -> StepPlan:
    """The plan: --levels (else --users), --step-time, --warmup, --step-spawn-rate."""
    users = parse_users(options.levels or str(options.num_users or 1))
    rate = float(options.step_spawn_rate) or None
    return StepPlan(users, float(options.step_time), float(options.warmup), rate)


class StepShape(LoadTestShape):  # type: ignore[misc]  # locust is untyped to mypy
    """Level i runs from i*step_time to (i+1)*step_time; returns None (stop) after the last."""

    abstract = True

    def __init__(self) -> None:
        super().__init__()
        self.plan: StepPlan | None = None

    def tick(self) -> tuple[int, float] | None:
        if self.plan is None:
            assert self.runner is not None
            self.plan = plan_from_options(self.runner.environment.parsed_options)
        level = self.plan.level_at(self.get_run_time())
        return None if level is None else (level.users, self.plan.rate)
