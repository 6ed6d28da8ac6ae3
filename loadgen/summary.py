"""A run's summary, typed: one LevelSummary per level, the generator's verdict, the InfluxDB
sink report and the run's metadata. `RunSummary.to_dict()` is summary.json; meta.json is
`RunMeta.to_dict()`. `loadgen.results` writes and reads both; nothing else parses them.

Throughput counts requests that finished inside the level's window (warmup/ramp excluded):
req_s = successful requests ÷ window_s, output_tok_s = Σ N_out of successful requests ÷ window_s.
Latency percentiles are over the successful requests that finished in the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from loadgen.breakdown import OLLAMA_SOURCE, ollama_fields
from loadgen.diagnostics import Diagnostics
from loadgen.errors import LoadgenError
from loadgen.fingerprint import Fingerprint
from loadgen.flags import SATURATED_CPU_PCT, SATURATED_INTERVALS, SATURATED_LAG_MS
from loadgen.levels import Level, ResourceSeries, first_window
from loadgen.stats import LevelSamples

NS_PER_S = 1_000_000_000
T = TypeVar("T")


def build(cls: type[T], data: Mapping[str, Any]) -> T:
    """A dataclass from a mapping: unknown keys are ignored, missing ones take defaults."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class LevelSummary:
    """One load level (a number of concurrent users) over its steady window."""

    stage_index: int  # the level's index; the wire name of summary.json and llm_stage
    users: int
    window_s: float
    requests: int  # finished in the window, failed ones included
    errors: int
    error_rate: float  # errors / requests, 0..1
    req_s: float  # successful requests per second
    output_tok_s: float
    input_tok_s: float
    output_tokens: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    ttft_sched_p95_ms: float | None  # open loop only
    ttfo_p50_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    tpot_p50_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    e2e_p99_ms: float | None
    queue_p50_ms: float | None = None  # Ollama server timings only
    prefill_p50_ms: float | None = None
    decode_p50_ms: float | None = None
    network_client_p50_ms: float | None = None
    ttft_mean_ms: float | None = None  # what published tables usually quote as "TTFT"
    # Where the TTFT went on the server (loadgen/breakdown.py, docs/engine-insight.md): from
    # vLLM's /metrics at the window's bounds ("vllm_metrics": means exact, `_bucketed`
    # percentiles interpolated from its histogram buckets) or Ollama's durations
    # ("ollama_timings": all exact). "" and None: the server told nothing.
    breakdown_source: str = ""
    server_requests: int | None = None  # requests the server finished in the window
    server_ttft_mean_ms: float | None = None
    queue_mean_ms: float | None = None  # waiting for a slot
    prefill_mean_ms: float | None = None
    decode_mean_ms: float | None = None
    load_mean_ms: float | None = None  # Ollama: loading the model
    server_e2e_mean_ms: float | None = None
    server_itl_mean_ms: float | None = None  # vLLM
    client_overhead_ms: float | None = None  # ttft_mean_ms − server_ttft_mean_ms
    server_ttft_p50_ms: float | None = None  # Ollama, exact
    server_ttft_p95_ms: float | None = None
    server_ttft_p99_ms: float | None = None
    queue_p95_ms: float | None = None
    queue_p99_ms: float | None = None
    prefill_p95_ms: float | None = None
    decode_p95_ms: float | None = None
    server_e2e_p50_ms: float | None = None
    server_e2e_p95_ms: float | None = None
    server_ttft_p50_bucketed_ms: float | None = None  # vLLM, from buckets
    server_ttft_p95_bucketed_ms: float | None = None
    server_ttft_p99_bucketed_ms: float | None = None
    queue_p50_bucketed_ms: float | None = None
    queue_p95_bucketed_ms: float | None = None
    queue_p99_bucketed_ms: float | None = None
    prefill_p50_bucketed_ms: float | None = None
    prefill_p95_bucketed_ms: float | None = None
    decode_p50_bucketed_ms: float | None = None
    decode_p95_bucketed_ms: float | None = None
    server_e2e_p50_bucketed_ms: float | None = None
    server_e2e_p95_bucketed_ms: float | None = None
    server_itl_p50_bucketed_ms: float | None = None
    server_itl_p99_bucketed_ms: float | None = None
    preemptions: int | None = None  # vLLM: in the window
    prefix_cache_hit_rate: float | None = None  # vLLM: cached ÷ queried prompt tokens, 0..1
    kv_cache_usage_peak_ratio: float | None = None  # vLLM: the largest usage seen, 0..1
    server_window_start_unix_ns: int | None = None  # when the bounding /metrics were scraped
    server_window_end_unix_ns: int | None = None
    errors_by_type: dict[str, int] = field(default_factory=dict)
    error_samples: dict[str, str] = field(default_factory=dict)  # error type -> one detail
    n_out_sources: dict[str, int] = field(default_factory=dict)  # "usage" -> count, ...
    # Successful requests with both the server's N_out and the token-bearing frame count, and
    # those whose two counts differ (engines that batch tokens per frame differ by design)
    token_checked_requests: int = 0
    token_mismatch_requests: int = 0
    # From the sidecar (None without one). Idle = before the run's first level started.
    vram_idle_bytes: int | None = None  # VRAM summed over GPUs
    vram_peak_bytes: int | None = None  # max inside this level's steady window
    engine_rss_idle_bytes: int | None = None  # the engine's process tree
    engine_rss_peak_bytes: int | None = None
    # The steady window, wall clock
    window_start_unix_ns: int | None = None
    window_end_unix_ns: int | None = None
    ramp_s: float = 0.0  # its new users started spread over this long (loadgen/run/plan.py)
    # When the level settled (loadgen/steady.py); steady None: not judged (an older run)
    steady_start_unix_ns: int | None = None
    steady: bool | None = None
    steady_reason: str = ""

    @property
    def index(self) -> int:
        return self.stage_index


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(LevelSummary))


def summarize_samples(
    samples: LevelSamples, window_s: float, users: int, stage_index: int = 0
) -> LevelSummary:
    """A LevelSummary from (possibly merged) samples of a window of `window_s` seconds;
    Ollama's durations, when its requests carried them, give the server-side breakdown."""
    if window_s <= 0:
        raise LoadgenError(f"level {stage_index} has an empty measurement window ({window_s} s)")
    return with_server(_client_side(samples, window_s, users, stage_index), ollama_fields(samples))


def _client_side(
    samples: LevelSamples, window_s: float, users: int, stage_index: int
) -> LevelSummary:
    p = samples.percentile
    ok = samples.requests - samples.errors
    return LevelSummary(
        stage_index=stage_index,
        users=users,
        window_s=window_s,
        requests=samples.requests,
        errors=samples.errors,
        error_rate=samples.errors / samples.requests if samples.requests else 0.0,
        req_s=ok / window_s,
        output_tok_s=samples.output_tokens / window_s,
        input_tok_s=samples.input_tokens / window_s,
        output_tokens=samples.output_tokens,
        ttft_p50_ms=p("ttft_ms", 50),
        ttft_p95_ms=p("ttft_ms", 95),
        ttft_p99_ms=p("ttft_ms", 99),
        ttft_sched_p95_ms=p("ttft_sched_ms", 95),
        ttfo_p50_ms=p("ttfo_ms", 50),
        itl_p50_ms=p("itl_ms", 50),
        itl_p99_ms=p("itl_ms", 99),
        tpot_p50_ms=p("tpot_ms", 50),
        e2e_p50_ms=p("e2e_ms", 50),
        e2e_p95_ms=p("e2e_ms", 95),
        e2e_p99_ms=p("e2e_ms", 99),
        network_client_p50_ms=p("network_client_ms", 50),
        ttft_mean_ms=samples.mean("ttft_ms"),
        errors_by_type=dict(sorted(samples.errors_by_type.items())),
        error_samples=dict(sorted(samples.error_samples.items())),
        n_out_sources=dict(sorted(samples.n_out_sources.items())),
        token_checked_requests=samples.token_checked_requests,
        token_mismatch_requests=samples.token_mismatch_requests,
    )


def client_overhead_ms(level: LevelSummary) -> float | None:
    """Client TTFT mean − server TTFT mean: the network, HTTP and the API server in front of
    the engine (for vLLM also tokenising the prompt and detokenising the first token)."""
    client, server = level.ttft_mean_ms, level.server_ttft_mean_ms
    return None if client is None or server is None else client - server


def with_server(level: LevelSummary, fields: Mapping[str, Any]) -> LevelSummary:
    """`level` with server-side `fields` (loadgen/breakdown.py) and its client share. A level
    that has Ollama's exact breakdown keeps it, and takes nothing from a /metrics (Ollama has
    none: a server that also speaks vLLM's, as the simulator, would mix two engines' views)."""
    unknown = set(fields) - _FIELD_NAMES
    if unknown:
        raise ValueError(f"not LevelSummary fields: {sorted(unknown)}")
    if level.breakdown_source != OLLAMA_SOURCE:
        level = replace(level, **fields)
    return replace(level, client_overhead_ms=client_overhead_ms(level))


def summarize_level(samples: LevelSamples, level: Level) -> LevelSummary | None:
    """The level's summary over its steady window's samples; None if it never had a window."""
    start, end = level.window_start_unix_ns, level.window_end_unix_ns
    if not level.has_window or start is None or end is None:
        return None
    summary = summarize_samples(samples, (end - start) / NS_PER_S, level.users, level.index)
    return replace(
        summary,
        window_start_unix_ns=start,
        window_end_unix_ns=end,
        ramp_s=level.ramp_s,
        steady_start_unix_ns=level.steady_start_unix_ns,
        steady=level.steady,
        steady_reason=level.steady_reason,
    )


def with_resources(
    levels: Sequence[LevelSummary],
    series: ResourceSeries,
    run_start_unix_ns: int,
    first_window: tuple[int, int],
) -> list[LevelSummary]:
    """`levels` with idle/peak VRAM and engine RSS from the sidecar's series (unchanged when it
    measured nothing). Idle is read before the run's first steady window."""
    if not series:
        return list(levels)
    out = []
    for level in levels:
        start, end = level.window_start_unix_ns, level.window_end_unix_ns
        if start is not None and end is not None:
            found = series.resources(run_start_unix_ns, first_window, (start, end))
            level = replace(level, **dataclasses.asdict(found))
        out.append(level)
    return out


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
