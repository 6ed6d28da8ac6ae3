"""Load-generator health: every worker's CPU and event-loop lag per interval, lost workers, and
the "load generator saturated" verdict (on CPU or on lag). Pure (no gevent, no I/O): the plugin
feeds it reports.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadgen.flags import SATURATED_CPU_PCT, SATURATED_INTERVALS, SATURATED_LAG_MS
from loadgen.stats import percentile
from loadgen.summary import GeneratorVerdict, WorkerVerdict

# A worker's process CPU (100 = one core) at or above SATURATED_CPU_PCT is busy, and so is one
# whose interval's event-loop lag p99 is above SATURATED_LAG_MS; busy on one signal for
# SATURATED_INTERVALS consecutive intervals: saturated. The flags' defaults (loadgen/flags.py).
SATURATED_TEXT = "load generator saturated"
# An interval shorter than this share of --interval (the run's last one can last a few ms, and
# its CPU % is noise: 500 % on 2 cores) is left out of the verdict; its lag samples still count.
SHORT_INTERVAL_SHARE = 0.5
_NS_PER_MS = 1_000_000
# A worker saturated on lag alone whose CPU never reached this share of the CPU threshold was
# idle while its loop was late: the remedy is CPU of its own, not more processes.
IDLE_CPU_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One worker's interval, as it travels to the master (`to_dict` is the wire form)."""

    worker: str  # hostname:pid
    wall_unix_ns: int  # the worker's wall clock at the end of the interval
    cpu_pct: float  # this process over the interval; 100 = one full core
    loop_lag_ms: tuple[float, ...] = ()  # how late each probe sleep woke up in the interval
    users: int = 0
    length_s: float | None = None  # how long the interval lasted (None: unknown, counts)

    @property
    def loop_lag_max_ms(self) -> float | None:
        return max(self.loop_lag_ms) if self.loop_lag_ms else None

    @property
    def loop_lag_p99_ms(self) -> float | None:
        return percentile(self.loop_lag_ms, 99)

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "wall_unix_ns": self.wall_unix_ns,
            "cpu_pct": self.cpu_pct,
            "loop_lag_ms": list(self.loop_lag_ms),
            "users": self.users,
            "length_s": self.length_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthReport:
        return cls(
            worker=str(data["worker"]),
            wall_unix_ns=int(data["wall_unix_ns"]),
            cpu_pct=float(data.get("cpu_pct", 0.0)),
            loop_lag_ms=tuple(float(v) for v in data.get("loop_lag_ms", ())),
            users=int(data.get("users", 0)),
            length_s=None if data.get("length_s") is None else float(data["length_s"]),
        )


def _lag_values() -> array[float]:
    return array("d")


@dataclass
class WorkerHealth:
    """Everything one worker reported during the run."""

    worker: str
    intervals: int = 0
    cpu_max_pct: float = 0.0
    busy_run: int = 0  # consecutive intervals at or above the CPU threshold, now
    busy_run_max: int = 0
    lag_run: int = 0  # consecutive intervals whose lag p99 is above the lag threshold, now
    lag_run_max: int = 0
    interval_lag_p99_max_ms: float | None = None  # the worst interval's lag p99
    short_intervals: int = 0  # left out of the verdict (SHORT_INTERVAL_SHARE)
    loop_lag_ms: array[float] = field(default_factory=_lag_values)
    clock_offset_ms: float | None = None  # master wall − worker wall, smallest seen (+ latency)

    def add(self, report: HealthReport, book: HealthBook) -> None:
        self.loop_lag_ms.extend(report.loop_lag_ms)
        if report.length_s is not None and report.length_s < book.min_interval_s:
            self.short_intervals += 1
            return
        self.intervals += 1
        self.cpu_max_pct = max(self.cpu_max_pct, report.cpu_pct)
        self.busy_run = self.busy_run + 1 if report.cpu_pct >= book.cpu_threshold_pct else 0
        self.busy_run_max = max(self.busy_run_max, self.busy_run)
        lag_ms = report.loop_lag_p99_ms
        late = lag_ms is not None and lag_ms > book.lag_threshold_ms
        self.lag_run = self.lag_run + 1 if late else 0
        self.lag_run_max = max(self.lag_run_max, self.lag_run)
        if lag_ms is not None:
            self.interval_lag_p99_max_ms = max(lag_ms, self.interval_lag_p99_max_ms or 0.0)

    def saturated_by(self, sustained_intervals: int) -> list[str]:
        """The signals that stayed busy long enough: "cpu", "lag", both or none."""
        runs = {"cpu": self.busy_run_max, "lag": self.lag_run_max}
        return [signal for signal, run in runs.items() if run >= sustained_intervals]

    def seen_at(self, worker_wall_unix_ns: int, master_wall_unix_ns: int) -> None:
        """A message sent at `worker_wall` arrived at `master_wall`: one clock offset sample."""
        offset_ms = (master_wall_unix_ns - worker_wall_unix_ns) / _NS_PER_MS
        if self.clock_offset_ms is None or offset_ms < self.clock_offset_ms:
            self.clock_offset_ms = offset_ms

    def verdict(self, sustained_intervals: int, requests: int) -> WorkerVerdict:
        lag = self.loop_lag_ms
        return WorkerVerdict(
            requests=requests,
            intervals=self.intervals,
            cpu_max_pct=round(self.cpu_max_pct, 1),
            busy_intervals_max=self.busy_run_max,
            loop_lag_max_ms=round(max(lag), 3) if lag else None,
            loop_lag_p99_ms=_round(percentile(lag, 99)),
            clock_offset_ms=_round(self.clock_offset_ms),
            saturated=bool(self.saturated_by(sustained_intervals)),
            lag_busy_intervals_max=self.lag_run_max,
            interval_lag_p99_max_ms=_round(self.interval_lag_p99_max_ms),
            short_intervals=self.short_intervals,
            saturated_by=self.saturated_by(sustained_intervals),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class HealthBook:
    """The master's (or local runner's) view of every worker: health, identity, losses.

    A worker is *saturated* when its CPU stayed at or above `cpu_threshold_pct`, or its
    event-loop lag p99 above `lag_threshold_ms`, for `sustained_intervals` consecutive intervals;
    the run is saturated if any worker was. Intervals shorter than half of `interval_s` (the
    configured --interval) are left out.
    """

    def __init__(
        self,
        cpu_threshold_pct: float = SATURATED_CPU_PCT,
        sustained_intervals: int = SATURATED_INTERVALS,
        lag_threshold_ms: float = SATURATED_LAG_MS,
        interval_s: float = 0.0,
    ) -> None:
        self.cpu_threshold_pct = cpu_threshold_pct
        self.sustained_intervals = sustained_intervals
        self.lag_threshold_ms = lag_threshold_ms
        self.min_interval_s = SHORT_INTERVAL_SHARE * interval_s
        self.workers: dict[str, WorkerHealth] = {}
        self.node_workers: dict[str, str] = {}  # Locust node id -> loadgen worker id
        self.lost: dict[str, str] = {}  # worker (or node id if never heard of) -> why

    def _worker(self, worker: str) -> WorkerHealth:
        return self.workers.setdefault(worker, WorkerHealth(worker))

    def hello(self, node_id: str, worker: str, sent_unix_ns: int, received_unix_ns: int) -> None:
        """A worker process introduced itself (at its test start)."""
        self.node_workers[node_id] = worker
        self._worker(worker).seen_at(sent_unix_ns, received_unix_ns)

    def observe(
        self, report: HealthReport, received_unix_ns: int | None = None, node_id: str = ""
    ) -> bool:
        """One interval report; `received_unix_ns` (master's clock) when it came over the wire.
        True when this report made its worker saturated (the first time only)."""
        if node_id:
            self.node_workers[node_id] = report.worker
        health = self._worker(report.worker)
        was_saturated = bool(health.saturated_by(self.sustained_intervals))
        health.add(report, self)
        if received_unix_ns is not None:
            health.seen_at(report.wall_unix_ns, received_unix_ns)
        return not was_saturated and bool(health.saturated_by(self.sustained_intervals))

    def reason(self, worker: str) -> str:
        """Why `worker` is saturated, with the figures: what the verdict line says of it."""
        verdict = self._worker(worker).verdict(self.sustained_intervals, 0)
        return saturation_reason(verdict, self.cpu_threshold_pct, self.lag_threshold_ms)

    def lose(self, node_id: str, reason: str) -> str | None:
        """A worker stopped answering (missed heartbeats, or no final records); its name the
        first time, None if it was already lost."""
        name = self.node_workers.get(node_id, node_id)
        if name in self.lost:
            return None
        self.lost[name] = reason
        return name

    @property
    def saturated_workers(self) -> list[str]:
        return sorted(
            w for w, h in self.workers.items() if h.saturated_by(self.sustained_intervals)
        )

    @property
    def saturated(self) -> bool:
        return bool(self.saturated_workers)

    def verdict(self, requests_by_worker: Mapping[str, int]) -> GeneratorVerdict:
        """summary.json's `generator` section."""
        names = sorted(set(self.workers) | set(requests_by_worker))
        return GeneratorVerdict(
            saturated=self.saturated,
            saturated_workers=self.saturated_workers,
            cpu_threshold_pct=self.cpu_threshold_pct,
            sustained_intervals=self.sustained_intervals,
            lag_threshold_ms=self.lag_threshold_ms,
            lost_workers=sorted(self.lost),
            lost_reasons=dict(sorted(self.lost.items())),
            workers={
                name: self._worker(name).verdict(
                    self.sustained_intervals, requests_by_worker.get(name, 0)
                )
                for name in names
            },
        )


def saturation_reason(
    worker: WorkerVerdict, cpu_threshold_pct: float, lag_threshold_ms: float
) -> str:
    """'CPU at or above 90% for 3 intervals in a row (up to 180%)', the lag's alike, or both;
    a summary written before lag counted names CPU."""
    reasons = []
    if "cpu" in worker.saturated_by or not worker.saturated_by:
        reasons.append(
            f"CPU at or above {cpu_threshold_pct:g}% for {worker.busy_intervals_max} intervals"
            f" in a row (up to {worker.cpu_max_pct:g}%)"
        )
    if "lag" in worker.saturated_by:
        reasons.append(
            f"event-loop lag p99 above {lag_threshold_ms:g} ms for"
            f" {worker.lag_busy_intervals_max} intervals in a row"
            f" (up to {worker.interval_lag_p99_max_ms or 0.0:g} ms)"
        )
    return " and ".join(reasons)


def _advice(generator: GeneratorVerdict) -> str:
    """More processes help a generator that was busy. One whose loop lagged while its own CPU
    stayed low was waiting, not working: on a host whose cores an engine shares (a real vLLM
    on the same 2 cores), the kernel ran the engine's processes while its loop was due."""
    workers = [generator.workers.get(name) for name in generator.saturated_workers]
    idle = [
        w
        for w in workers
        if w is not None
        and w.saturated_by == ["lag"]
        and w.cpu_max_pct < generator.cpu_threshold_pct * IDLE_CPU_SHARE
    ]
    if not workers or len(idle) < len(workers):
        return "add worker processes (--processes) or hosts"
    top = max(w.cpu_max_pct for w in idle)
    return (
        f"its CPU stayed at or below {top:g}%, so its loop waited rather than worked (other"
        " processes on this host held the CPU, an engine on the same cores, or a blocking"
        " call): give the load generator cores or a host of its own, not more processes"
    )


def verdict_lines(generator: GeneratorVerdict | None) -> list[str]:
    """What the final output says about the generator: saturation (which worker, on which
    signal, with its figures) and lost workers."""
    if generator is None:
        return []
    lines: list[str] = []
    if generator.saturated:
        default = WorkerVerdict(saturated=True, busy_intervals_max=generator.sustained_intervals)
        reasons = [
            f"{name}: "
            + saturation_reason(
                generator.workers.get(name, default),
                generator.cpu_threshold_pct,
                generator.lag_threshold_ms,
            )
            for name in generator.saturated_workers
        ]
        lines.append(f"loadgen: {SATURATED_TEXT}: {'; '.join(reasons)}; {_advice(generator)}")
    for worker in generator.lost_workers:
        lines.append(f"loadgen: lost worker {worker}: {generator.lost_reasons.get(worker, 'lost')}")
    return lines
