"""A run's summary, typed: one LevelSummary per level (loadgen/level_summary.py), the
generator's verdict, the InfluxDB sink report and the run's metadata. `RunSummary.to_dict()` is
summary.json; meta.json is `RunMeta.to_dict()`. `loadgen.results` writes and reads both; nothing
else parses them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from loadgen.diagnostics import Diagnostics
from loadgen.fingerprint import Fingerprint
from loadgen.flags import SATURATED_CPU_PCT, SATURATED_INTERVALS, SATURATED_LAG_MS
from loadgen.level_summary import LevelSummary, with_resources
from loadgen.levels import Level, ResourceSeries, first_window
from loadgen.mapping import build


@dataclass(frozen=True, slots=True)
class WorkerVerdict:
    """What one load generator process reported during the run."""

    requests: int = 0
    intervals: int = 0
    cpu_max_pct: float = 0.0
    busy_intervals_max: int = 0
    loop_lag_max_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    clock_offset_ms: float | None = None
    saturated: bool = False
    lag_busy_intervals_max: int = 0  # intervals in a row with lag p99 above the threshold
    interval_lag_p99_max_ms: float | None = None  # the worst interval's lag p99
    short_intervals: int = 0  # too short to judge (the run's last one), left out
    saturated_by: list[str] = field(default_factory=list)  # "cpu", "lag"


@dataclass(frozen=True, slots=True)
class GeneratorVerdict:
    """summary.json's `generator`: was the load generator itself the bottleneck?"""

    saturated: bool = False
    saturated_workers: list[str] = field(default_factory=list)
    cpu_threshold_pct: float = SATURATED_CPU_PCT
    sustained_intervals: int = SATURATED_INTERVALS
    lag_threshold_ms: float = SATURATED_LAG_MS
    lost_workers: list[str] = field(default_factory=list)
    lost_reasons: dict[str, str] = field(default_factory=dict)
    workers: dict[str, WorkerVerdict] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorVerdict:
        verdict = build(cls, data)
        workers = {str(k): build(WorkerVerdict, v) for k, v in data.get("workers", {}).items()}
        return replace(verdict, workers=workers)


@dataclass(frozen=True, slots=True)
class SinkReport:
    """What became of every point handed to an InfluxDB sink; written + spilled + rejected +
    dropped equals the points written to it once the sink is closed."""

    written: int = 0
    spilled: int = 0  # in the spool file, for `loadgen replay`
    rejected: int = 0  # refused by the server as malformed (HTTP 400), kept in influx-rejected.lp
    dropped: int = 0  # lost: only if the spool file itself could not be written
    failed_batches: int = 0
    retries: int = 0
    spool_path: str = ""
    last_error: str = ""

    def to_dict(self) -> dict[str, int | str]:
        return dataclasses.asdict(self)

    def __add__(self, other: SinkReport) -> SinkReport:
        counts = ("written", "spilled", "rejected", "dropped", "failed_batches", "retries")
        summed = {n: getattr(self, n) + getattr(other, n) for n in counts}
        return SinkReport(
            **summed,
            spool_path=self.spool_path or other.spool_path,
            last_error=other.last_error or self.last_error,
        )


# The part of RunMeta that summary.json repeats under "meta".
_SUMMARY_META = ("engine", "model", "api", "user_class", "target", "start_unix_ns", "end_unix_ns")


@dataclass(frozen=True, slots=True)
class RunMeta:
    """meta.json: who ran what against which engine, when. Secrets are already redacted."""

    run_id: str
    loadgen_version: str = ""
    argv: list[str] = field(default_factory=list)
    target: str = ""
    engine: str = ""
    target_version: dict[str, Any] = field(default_factory=dict)
    api: str = ""
    model: str = ""
    user_class: str = ""
    start_unix_ns: int | None = None
    end_unix_ns: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    sim_profile: str | None = None  # --sim: the simulator profile (the engine it imitates)
    fingerprint: Fingerprint | None = None  # what makes runs comparable (loadgen/fingerprint.py)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.sim_profile is None:
            del data["sim_profile"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMeta:
        """Inverse of `to_dict`: unknown keys are ignored, missing ones take defaults."""
        meta = build(cls, data)
        found = data.get("fingerprint")
        fingerprint = Fingerprint.from_dict(found) if isinstance(found, Mapping) else None
        return replace(meta, fingerprint=fingerprint)

    def summary_section(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _SUMMARY_META}
        return data if self.sim_profile is None else {**data, "sim_profile": self.sim_profile}


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Every level of one run with its window, the windows of every level observed, the
    generator's verdict, the sink report and the run's metadata."""

    run_id: str
    levels: tuple[LevelSummary, ...]
    meta: RunMeta
    stages: tuple[Level, ...] = ()  # every level observed, measured or not
    requests_recorded: int = 0
    generator: GeneratorVerdict | None = None
    influx: SinkReport | None = None  # None: InfluxDB was off
    complete: bool = True  # False: the run was cut short (interrupted, killed, disk full)
    end_reason: str = ""  # why it is incomplete, one line ("" when complete)
    engine_unreachable_unix_ns: int | None = None  # the engine stopped answering from then on
    engine_unreachable_errors: int = 0  # connect errors from then on (loadgen/unreachable.py)
    capacity: dict[str, Any] | None = None  # `loadgen capacity`: its search (loadgen/capacity.py)
    diagnostics: Diagnostics | None = None  # Ollama's capacity traps (loadgen/diagnostics.py)

    @property
    def totals(self) -> dict[str, Any]:
        """Counts summed over levels (percentiles are per level: they never add up)."""
        requests = sum(level.requests for level in self.levels)
        errors = sum(level.errors for level in self.levels)
        return {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "output_tokens": sum(level.output_tokens for level in self.levels),
            "window_s": sum(level.window_s for level in self.levels),
        }

    def levels_with(self, series: ResourceSeries) -> tuple[LevelSummary, ...]:
        """The levels with VRAM and RSS from a sidecar's series, idle read before the run's
        first steady window (for a sidecar that ran beside the swarm rather than by it)."""
        windows = [
            (start, end)
            for lv in self.levels
            if (start := lv.window_start_unix_ns) is not None
            and (end := lv.window_end_unix_ns) is not None
        ]
        first = first_window(self.stages) or min(windows, default=None)
        if first is None:
            return self.levels
        run_start = self.stages[0].start_unix_ns if self.stages else first[0]
        return tuple(with_resources(self.levels, series, run_start, first))

    @property
    def started(self) -> bool:
        """False when the run never began (a master whose workers never joined)."""
        return self.meta.start_unix_ns is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "meta": self.meta.summary_section(),
            "levels": [dataclasses.asdict(level) for level in self.levels],
            "totals": self.totals,
            "engine": self.meta.engine,
            "stages": [level.to_dict() for level in self.stages],
            "requests_recorded": self.requests_recorded,
            "complete": self.complete,
            "end_reason": self.end_reason,
            "engine_unreachable_unix_ns": self.engine_unreachable_unix_ns,
            "engine_unreachable_errors": self.engine_unreachable_errors,
        }
        if self.generator is not None:
            data["generator"] = dataclasses.asdict(self.generator)
        if self.influx is not None:
            data["influx"] = self.influx.to_dict()
        if self.capacity is not None:
            data["capacity"] = self.capacity
        if self.diagnostics is not None:
            data["diagnostics"] = self.diagnostics.to_dict()
        return data

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], meta: Mapping[str, Any] | None = None
    ) -> RunSummary:
        """Inverse of `to_dict`; `meta` is meta.json's content when there is one."""
        run_id = str(data.get("run_id", ""))
        generator, influx = data.get("generator"), data.get("influx")
        diagnostics = data.get("diagnostics")
        return cls(
            run_id=run_id,
            levels=tuple(build(LevelSummary, level) for level in data.get("levels", [])),
            meta=RunMeta.from_dict({"run_id": run_id, **data.get("meta", {}), **(meta or {})}),
            stages=tuple(Level.from_dict(stage) for stage in data.get("stages", [])),
            requests_recorded=int(data.get("requests_recorded", 0)),
            generator=None if generator is None else GeneratorVerdict.from_dict(generator),
            influx=None if influx is None else build(SinkReport, influx),
            complete=bool(data.get("complete", True)),
            end_reason=str(data.get("end_reason", "")),
            engine_unreachable_unix_ns=data.get("engine_unreachable_unix_ns"),
            engine_unreachable_errors=int(data.get("engine_unreachable_errors", 0)),
            capacity=data.get("capacity"),
            diagnostics=None if diagnostics is None else Diagnostics.from_dict(diagnostics),
        )
