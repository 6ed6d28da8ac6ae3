"""Every process that sends requests: per-interval counts, its own CPU and event-loop lag.

`IntervalCounter` fires `llm_interval` every --interval seconds and hands a HealthReport to
its listeners (a worker sends it to the master; a local runner keeps it). `LoopLagProbe` is a
greenlet that sleeps a fixed period and measures how late it wakes: the event loop's lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import psutil

from loadgen.records import RequestRecord
from loadgen.run.health import HealthReport
from loadgen.swarm import events

LAG_PERIOD_S = 0.1


class LoopLagProbe:
    """Sleeps `period_s` over and over; each wake-up's overshoot (ms) is one lag sample."""

    def __init__(self, period_s: float = LAG_PERIOD_S) -> None:
        self.period_s = period_s
        self._values: list[float] = []
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def take(self) -> tuple[float, ...]:
        """The samples since the last call."""
        values, self._values = tuple(self._values), []
        return values

    def _loop(self) -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(self.period_s)
            late_s = time.perf_counter() - before - self.period_s
            self._values.append(max(late_s, 0.0) * 1000.0)


class IntervalCounter:
    """Counts this process's requests and fires `llm_interval` every --interval seconds."""

    def __init__(self, environment: Any, worker: str) -> None:
        self.environment = environment
        self.worker = worker
        self.interval_s = float(environment.parsed_options.interval)
        self.listeners: list[Callable[[HealthReport], None]] = []
        self._process = psutil.Process()
        self._lag = LoopLagProbe()
        self._greenlet: gevent.Greenlet | None = None
        self._since = time.monotonic()  # the current interval's start
        self._reset()

    def _reset(self) -> None:
        self.requests = self.errors = self.output_tokens = 0

    def add(self, record: RequestRecord) -> None:
        self.requests += 1
        self.errors += 0 if record.ok else 1
        self.output_tokens += record.n_out if record.ok else 0

    def start(self) -> None:
        # a worker's options are the master's only once the run starts
        self.interval_s = float(self.environment.parsed_options.interval)
        self._process.cpu_percent(None)
        self._since = time.monotonic()
        self._lag.take()
        self._lag.start()
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self.fire()
        self._lag.stop()

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            self.fire()

    def fire(self) -> None:
        now = time.monotonic()
        length_s, self._since = now - self._since, now
        report = HealthReport(
            worker=self.worker,
            wall_unix_ns=time.time_ns(),
            cpu_pct=float(self._process.cpu_percent(None)),
            loop_lag_ms=self._lag.take(),
            users=int(self.environment.runner.user_count),
            length_s=length_s,
        )
        events.llm_interval.fire(
            worker=self.worker,
            wall_unix_ns=report.wall_unix_ns,
            requests=self.requests,
            errors=self.errors,
            output_tokens=self.output_tokens,
            users=report.users,
            cpu_pct=report.cpu_pct,
            loop_lag_max_ms=report.loop_lag_max_ms,
            loop_lag_p99_ms=report.loop_lag_p99_ms,
        )
        self._reset()
        for listener in self.listeners:
            listener(report)
