"""CapacityShape: one LoadTestShape whose levels are the probes of `loadgen capacity`.

Each probe holds its load for --step-time, then the users stop (the level ends) until the
conductor's summary of that level is out; the pure search (loadgen/capacity.py) judges it and
names the next load, or the run ends. Every probe is a level of one run: one results directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from locust import LoadTestShape

from loadgen.capacity import Probe, SearchSpec, next_load, verdict
from loadgen.slo import Slo, parse_slos
from loadgen.summary import LevelSummary
from loadgen.swarm import events, plugin

VERDICT_WAIT_S = 10.0  # a level that brings no summary by then (no window) breaks every SLO


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """What the shape needs, read once from loadgen's options."""

    spec: SearchSpec
    slos: tuple[Slo, ...]
    step_time_s: float
    spawn_rate: float | None
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
        return cls(
            spec=spec,
            slos=tuple(parse_slos([options.capacity_slo or ""])),
            step_time_s=float(options.step_time),
            spawn_rate=float(options.step_spawn_rate) or None,
            concurrency=int(options.levels or 1),  # open loop: the CLI passes the users here
        )


@dataclass
class Search:
    """The search's state across ticks; `tick` answers Locust's (users, spawn rate) or None."""

    plan: CapacityPlan
    probes: list[Probe] = field(default_factory=list)
    summaries: dict[int, LevelSummary] = field(default_factory=dict)
    load: float | None = None
    since_s: float = 0.0  # when the current probe (or the wait for its verdict) began
    waiting: bool = False

    def tick(self, now_s: float, set_rate: Any) -> tuple[int, float] | None:
        plan = self.plan
        if self.load is None and not self.probes:
            return self._start(next_load(plan.spec, self.probes), now_s, set_rate)
        if not self.waiting:
            if now_s - self.since_s < plan.step_time_s:
                return self._users()
            self.waiting, self.since_s = True, now_s
            return (0, self._rate())
        index = len(self.probes)
        summary = self.summaries.get(index)
        if summary is None and now_s - self.since_s < VERDICT_WAIT_S:
            return (0, self._rate())
        assert self.load is not None
        probe = Probe(self.load, index, verdict(plan.slos, summary))
        self.probes.append(probe)
        _announce(probe, plan.spec.mode)
        return self._start(next_load(plan.spec, self.probes), now_s, set_rate)

    def _start(self, load: float | None, now_s: float, set_rate: Any) -> tuple[int, float] | None:
        if load is None:
            return None
        self.load, self.since_s, self.waiting = load, now_s, False
        if self.plan.spec.mode == "rate":
            set_rate(load)
        return self._users()

    def _users(self) -> tuple[int, float]:
        assert self.load is not None
        if self.plan.spec.mode == "rate":
            return (self.plan.concurrency, self._rate())
        return (int(self.load), self._rate())

    def _rate(self) -> float:
        if self.plan.spawn_rate is not None:
            return self.plan.spawn_rate
        top = self.plan.concurrency if self.plan.spec.mode == "rate" else self.load or 1
        return float(max(1, int(top)))


def _announce(probe: Probe, mode: str) -> None:
    """An `llm_event` annotation per judged probe (Grafana's scaling dashboard shows them)."""
    unit = "users" if mode == "users" else "req/s"
    status = "held" if probe.held else "broke " + "; ".join(b.describe() for b in probe.breaches)
    text = f"probe {probe.stage_index}: {probe.load:g} {unit} {status}"
    events.llm_event.fire(kind="capacity_probe", text=text, wall_unix_ns=time.time_ns())


class CapacityShape(LoadTestShape):  # type: ignore[misc]  # locust is untyped to mypy
    """Probes loads one level at a time, as the search asks; stops when it has the answer."""

    abstract = True

    def __init__(self) -> None:
        super().__init__()
        self.search: Search | None = None

    def tick(self) -> tuple[int, float] | None:
        if self.search is None:
            assert self.runner is not None
            search = Search(CapacityPlan.from_options(self.runner.environment.parsed_options))
            events.llm_stage.add_listener(
                lambda stage, **_: search.summaries.__setitem__(stage.stage_index, stage)
            )
            self.search = search
        return self.search.tick(self.get_run_time(), self._set_rate)

    def _set_rate(self, rate_per_s: float) -> None:
        """Open loop: the probe's arrival rate, for this process and (by the conductor's level
        message) every worker."""
        assert self.runner is not None
        plugin.session_for(self.runner.environment).stage.rate_per_s = rate_per_s
