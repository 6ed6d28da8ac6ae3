"""CapacityShape: one LoadTestShape whose levels are the probes of `loadgen capacity`.

Each probe is a level like the swarm's: its users start over a ramp, its window starts when it
settled, and with --step-time auto it lasts until its steady window holds --min-requests and 3x
their median E2E (the conductor's `Settling`), at most --max-step-time. Then its users stop until
the conductor's summary of the level is out; the pure search (loadgen/capacity.py) judges it and
names the next load, or the run ends. Every probe is a level of one run: one results directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from locust import LoadTestShape

from loadgen.capacity import PROBE_EVENT, Probe, SearchSpec, next_load, verdict
from loadgen.flags import AUTO
from loadgen.level_summary import LevelSummary
from loadgen.run.plan import LevelRamp, StepPlan
from loadgen.slo import Slo, parse_slos
from loadgen.swarm import events, plugin

VERDICT_WAIT_S = 10.0  # a level that brings no summary by then (no window) breaks every SLO


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """What the shape needs, read once from loadgen's options."""

    spec: SearchSpec
    slos: tuple[Slo, ...]
    step_time_s: float  # a probe's length; auto: its cap (--max-step-time)
    auto: bool  # --step-time auto: a probe ends once it has measured enough
    warmup_s: float
    spawn_rate: float | None
    ramp_s: float | None  # --ramp; None: about one request (open loop: 0, users wait anyway)
    concurrency: int  # open loop: the users serving the arrivals (--levels)

    @classmethod
    def from_options(cls, options: Any) -> CapacityPlan:
        open_loop = options.rate is not None
        spec = SearchSpec(
            mode="rate" if open_loop else "users",
            start=float(options.rate) if open_loop else float(options.levels or 1),
            maximum=float(options.max_rate if open_loop else options.max_users),
            precision=float(options.precision),
            max_probes=int(options.max_probes),
        )
        auto = options.step_time == AUTO
        return cls(
            spec=spec,
            slos=tuple(parse_slos([options.capacity_slo or ""])),
            step_time_s=float(options.max_step_time if auto else options.step_time),
            auto=auto,
            warmup_s=float(options.warmup),
            spawn_rate=float(options.step_spawn_rate) or None,
            ramp_s=0.0 if open_loop else options.ramp,
            concurrency=int(options.levels or 1),  # open loop: the CLI passes the users here
        )

    def users(self, load: float) -> int:
        return self.concurrency if self.spec.mode == "rate" else int(load)

    def ramp(self, load: float, expected_request_s: float | None) -> LevelRamp:
        """How a probe's users start (from 0): the swarm's rule for one level (run/plan.py)."""
        users = (self.users(load),)
        plan = StepPlan(users, self.step_time_s, self.warmup_s, self.spawn_rate, self.ramp_s)
        return plan.ramp_at(0, expected_request_s)


@dataclass
class Search:
    """The search's state across ticks; `tick` answers Locust's (users, spawn rate) or None.

    `level_done(index)` says when an auto probe has measured enough, `expected_request_s()`
    about one request's duration in the running probe (the next probe's ramp), `start(ramp)`
    is told each probe's ramp as it starts; the conductor and the shape set them."""

    plan: CapacityPlan
    level_done: Callable[[int], bool] = lambda _index: False
    expected_request_s: Callable[[], float | None] = lambda: None
    # About one request's duration, the next probe's ramp: --first-ramp (one request alone,
    # measured by the CLI), then the median E2E of the last probe that had one.
    expected_s: float | None = None
    probes: list[Probe] = field(default_factory=list)
    ramps: list[LevelRamp] = field(default_factory=list)
    summaries: dict[int, LevelSummary] = field(default_factory=dict)
    load: float | None = None
    since_s: float = 0.0  # when the current probe (or the wait for its verdict) began
    waiting: bool = False

    def tick(
        self, now_s: float, start: Callable[[float, LevelRamp], None]
    ) -> tuple[int, float] | None:
        plan = self.plan
        index = len(self.probes)
        if self.load is None and not self.probes:
            return self._start(next_load(plan.spec, self.probes), now_s, start)
        if not self.waiting:
            if not self._probe_over(index, now_s):
                return self._users()
            self.expected_s = self.expected_request_s() or self.expected_s  # before it closes
            self.waiting, self.since_s = True, now_s
            return (0, self._stop_rate())
        summary = self.summaries.get(index)
        if summary is None and now_s - self.since_s < VERDICT_WAIT_S:
            return (0, self._stop_rate())
        assert self.load is not None
        probe = Probe(self.load, index, verdict(plan.slos, summary))
        self.probes.append(probe)
        _announce(probe, plan.spec.mode)
        return self._start(next_load(plan.spec, self.probes), now_s, start)

    def _probe_over(self, index: int, now_s: float) -> bool:
        """A fixed probe lasts --step-time; an auto one until measured, --max-step-time at most."""
        if self.plan.auto and self.level_done(index):
            return True
        return now_s - self.since_s >= self.plan.step_time_s

    def _start(
        self, load: float | None, now_s: float, start: Callable[[float, LevelRamp], None]
    ) -> tuple[int, float] | None:
        if load is None:
            return None
        self.load, self.since_s, self.waiting = load, now_s, False
        self.ramps.append(self.plan.ramp(load, self.expected_s))
        start(load, self.ramps[-1])
        return self._users()

    def _users(self) -> tuple[int, float]:
        assert self.load is not None
        return (self.plan.users(self.load), self.ramps[-1].spawn_rate)

    def _stop_rate(self) -> float:
        """A probe's users all stop at once."""
        top = self.plan.users(self.load or 1)
        return float(max(1, top))


def _announce(probe: Probe, mode: str) -> None:
    """An `llm_event` annotation per judged probe (Grafana's scaling dashboard shows them)."""
    unit = "users" if mode == "users" else "req/s"
    status = "held" if probe.held else "broke " + "; ".join(b.describe() for b in probe.breaches)
    text = f"probe {probe.stage_index}: {probe.load:g} {unit} {status}"
    events.llm_event.fire(kind=PROBE_EVENT, text=text, wall_unix_ns=time.time_ns())


class CapacityShape(LoadTestShape):  # type: ignore[misc]  # locust is untyped to mypy
    """Probes loads one level at a time, as the search asks; stops when it has the answer."""

    abstract = True

    def __init__(self) -> None:
        super().__init__()
        self.search: Search | None = None
        # Set by the conductor, as on StepShape: an auto level has measured enough; about one
        # request's duration in the running level.
        self.level_done: Callable[[int], bool] = lambda _index: False
        self.expected_request_s: Callable[[], float | None] = lambda: None

    def tick(self) -> tuple[int, float] | None:
        if self.search is None:
            assert self.runner is not None
            options = self.runner.environment.parsed_options
            search = Search(
                CapacityPlan.from_options(options),
                level_done=lambda index: self.level_done(index),
                expected_request_s=lambda: self.expected_request_s(),
                expected_s=getattr(options, "first_ramp", None),
            )
            events.llm_stage.add_listener(
                lambda stage, **_: search.summaries.__setitem__(stage.stage_index, stage)
            )
            self.search = search
        return self.search.tick(self.get_run_time(), self._start_probe)

    def ramp_of(self, index: int) -> LevelRamp | None:
        """The ramp probe `index` started with (the conductor's phase of its users)."""
        ramps = self.search.ramps if self.search is not None else []
        return ramps[index] if index < len(ramps) else None

    def _start_probe(self, load: float, ramp: LevelRamp) -> None:
        """Before Locust spawns a probe's users: their phase, and in open loop the probe's
        arrival rate, for this process and (by the conductor's level message) every worker."""
        assert self.runner is not None
        environment = self.runner.environment
        if self.search is not None and self.search.plan.spec.mode == "rate":
            plugin.session_for(environment).stage.rate_per_s = load
        plugin.announce_phase(environment, ramp.phase_s)
