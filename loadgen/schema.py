"""The InfluxDB schema: every measurement, tag and field name, and records/samples → points.

Pure: no I/O. Field names equal the Python attribute names; a tag never shares a name with a
field. Dashboards are generated from `MEASUREMENTS`, so names here are a public contract.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from loadgen import timing
from loadgen.line_protocol import FieldValue, LinePoint
from loadgen.records import EngineSample, GpuSample, HostSample, ProcessSample, RequestRecord

FieldKind = Literal["float", "int", "bool", "str"]
# A sidecar reading that becomes points (a sidecar notice does not).
ResourceSample = GpuSample | ProcessSample | HostSample | EngineSample
RUN_TAGS: tuple[str, ...] = ("run_id", "engine", "model", "api", "user_class")
ERROR_DETAIL_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class Measurement:
    """A measurement's name, tag keys and field kinds (InfluxDB fixes a field's type per shard)."""

    name: str
    tags: tuple[str, ...]
    fields: Mapping[str, FieldKind]
    doc: str


def _kinds(kind: FieldKind, *names: str) -> dict[str, FieldKind]:
    return dict.fromkeys(names, kind)


LLM_REQUEST = Measurement(
    "llm_request",
    (*RUN_TAGS, "worker", "status", "error_type"),
    {
        **_kinds("float", "ttft_ms", "ttft_sched_ms", "ttfo_ms", "tpot_ms", "e2e_ms"),
        **_kinds("float", "itl_mean_ms", "itl_max_ms"),
        **_kinds("float", "retry_after_s", "retry_wait_s"),  # a server's Retry-After, its wait
        # Ollama only: loadgen.timing.OllamaBreakdown
        **_kinds("float", "queue_ms", "load_ms", "prefill_ms", "decode_ms", "network_client_ms"),
        **_kinds("int", "n_in", "n_out", "token_frames", "http_status", "stage_index"),
        **_kinds("int", "stage_users", "seq", "turn"),
        "ok": "bool",
        **_kinds("str", "n_in_source", "n_out_source", "finish_reason", "error_detail"),
    },
    "one point per request, at its send time (see docs/influxdb.md for the timestamp rule)",
)
LLM_INTERVAL = Measurement(
    "llm_interval",
    (*RUN_TAGS, "worker"),
    {
        **_kinds("int", "requests", "errors", "output_tokens", "users"),
        **_kinds("float", "cpu_pct", "loop_lag_max_ms", "loop_lag_p99_ms"),
    },
    "per worker, every few seconds, at the end of the interval",
)
STAGE_INT_FIELDS: tuple[str, ...] = (
    *("stage_index", "users", "requests", "errors", "output_tokens"),
    *("token_checked_requests", "token_mismatch_requests", "itl_gaps", "itl_shared_gaps"),
    *("server_requests", "preemptions"),
)
# Where the TTFT went on the server (loadgen/breakdown.py): means, Ollama's exact percentiles,
# vLLM's percentiles from its histogram buckets, and vLLM's cache figures.
BREAKDOWN_FIELDS: tuple[str, ...] = (
    *("server_ttft_mean_ms", "queue_mean_ms", "prefill_mean_ms", "decode_mean_ms"),
    *("load_mean_ms", "server_e2e_mean_ms", "server_itl_mean_ms", "client_overhead_ms"),
    *("server_ttft_p50_ms", "server_ttft_p95_ms", "server_ttft_p99_ms", "queue_p95_ms"),
    *("queue_p99_ms", "prefill_p95_ms", "decode_p95_ms", "server_e2e_p50_ms", "server_e2e_p95_ms"),
    *("server_ttft_p50_bucketed_ms", "server_ttft_p95_bucketed_ms", "server_ttft_p99_bucketed_ms"),
    *("queue_p50_bucketed_ms", "queue_p95_bucketed_ms", "queue_p99_bucketed_ms"),
    *("prefill_p50_bucketed_ms", "prefill_p95_bucketed_ms", "decode_p50_bucketed_ms"),
    *("decode_p95_bucketed_ms", "server_e2e_p50_bucketed_ms", "server_e2e_p95_bucketed_ms"),
    *("server_itl_p50_bucketed_ms", "server_itl_p99_bucketed_ms"),
    *("prefix_cache_hit_rate", "kv_cache_usage_peak_ratio"),
)
LLM_STAGE = Measurement(
    "llm_stage",
    RUN_TAGS,
    {  # the numeric fields of loadgen.summary.LevelSummary (VRAM/RSS: with a sidecar)
        **_kinds("int", *STAGE_INT_FIELDS),
        **_kinds("float", "error_rate", "req_s", "output_tok_s", "input_tok_s", "window_s"),
        **_kinds("float", "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "ttft_sched_p95_ms"),
        **_kinds("float", "ttfo_p50_ms", "itl_p50_ms", "itl_p99_ms", "tpot_p50_ms"),
        **_kinds("float", "e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms", "queue_p50_ms"),
        **_kinds("float", "prefill_p50_ms", "decode_p50_ms", "network_client_p50_ms"),
        "ttft_mean_ms": "float",
        **_kinds("float", *BREAKDOWN_FIELDS),
        **_kinds("float", "vram_idle_bytes", "vram_peak_bytes"),
        **_kinds("float", "engine_rss_idle_bytes", "engine_rss_peak_bytes"),
        "ramp_s": "float",
    },
    "per load level, at the end of its steady window; other numeric summary fields are floats",
)
LLM_EVENT = Measurement(
    "llm_event", (*RUN_TAGS, "kind"), {"text": "str"}, "run/stage start and end, for annotations"
)
GPU = Measurement(
    "gpu",
    ("run_id", "engine", "gpu_index", "gpu_name", "source"),
    {
        **_kinds("int", "vram_used_bytes", "vram_total_bytes", "vram_reserved_bytes"),
        **_kinds("float", "gpu_util_pct", "mem_util_pct", "power_w", "energy_j"),
        **_kinds("int", "sm_clock_mhz", "mem_clock_mhz", "throttle_reasons"),
        "temperature_c": "float",
    },
    "one point per GPU per sidecar sample",
)
GPU_PROCESS = Measurement(
    "gpu_process",
    ("run_id", "engine", "process_name"),
    {"gpu_memory_bytes": "int", "root_pid": "int"},
    "GPU memory of the engine's process tree (NVML), when known",
)
PROCESS = Measurement(
    "process",
    ("run_id", "engine", "process_name"),
    {**_kinds("int", "root_pid", "n_processes", "rss_bytes"), "cpu_pct": "float", "alive": "bool"},
    "the engine's process tree, children summed",
)
HOST = Measurement(
    "host",
    ("run_id", "engine"),
    {**_kinds("int", "ram_used_bytes", "ram_total_bytes"), "cpu_pct": "float"},
    "whole-host RAM and CPU",
)
ENGINE = Measurement(
    "engine",
    ("run_id", "engine"),
    {
        **_kinds("float", "requests_running", "requests_waiting", "kv_cache_usage_ratio"),
        **_kinds("int", "model_size_bytes", "model_size_vram_bytes"),
        "preemptions_total": "float",
    },
    "engine-side state; `extra` metrics become float fields named extra_<name>",
)
LLM_CAPACITY = Measurement(
    "llm_capacity",
    (*RUN_TAGS, "mode"),
    {
        **_kinds("float", "capacity", "precision", "need", "output_tok_s", "req_s"),
        **_kinds("float", "ttft_p50_ms", "ttft_p95_ms", "itl_p99_ms", "broke_load"),
        **_kinds("int", "probes"),
        **_kinds("bool", "converged", "enough"),
        **_kinds("str", "slos", "reason", "broke_by"),
    },
    "`loadgen capacity`: one point per search, at the run's end (mode: users or rate)",
)
_ALL = (
    *(LLM_REQUEST, LLM_INTERVAL, LLM_STAGE, LLM_EVENT, LLM_CAPACITY),
    *(GPU, GPU_PROCESS, PROCESS, HOST, ENGINE),
)
MEASUREMENTS: dict[str, Measurement] = {m.name: m for m in _ALL}


def run_tags(run_id: str, engine: str, model: str, api: str, user_class: str) -> dict[str, str]:
    """The tags every point of a run carries (sidecar points use run_id and engine only)."""
    return {
        "run_id": run_id,
        "engine": engine,
        "model": model,
        "api": api,
        "user_class": user_class,
    }


def request_time_ns(record: RequestRecord) -> int:
    """Send time truncated to the µs, plus `seq % 1000` ns: deterministic (replays overwrite)
    and unique within a worker unless 1000 requests share one µs; workers differ by tag."""
    return record.wall_send_unix_ns - record.wall_send_unix_ns % 1000 + record.seq % 1000


def request_point(record: RequestRecord, tags: Mapping[str, str]) -> LinePoint:
    """The `llm_request` point of one request; `tags` are the run tags (see `run_tags`)."""
    point_tags = {
        **tags,
        "run_id": record.run_id,
        "model": record.model,
        "api": record.api,
        "user_class": record.user_class,
        "worker": record.worker,
        "status": "ok" if record.ok else "error",
        "error_type": record.error_type,
    }
    fields = {**_request_counts(record), **_request_latencies(record), **_ollama_fields(record)}
    return LinePoint.build(LLM_REQUEST.name, point_tags, fields, request_time_ns(record))


def _request_counts(r: RequestRecord) -> dict[str, FieldValue | None]:
    detail = r.error_detail
    if detail is not None:
        detail = " ".join(detail.split())[:ERROR_DETAIL_MAX_CHARS]
    return {
        "ok": r.ok,
        "n_in": r.n_in,
        "n_out": r.n_out,
        "token_frames": r.token_frames,
        "http_status": r.http_status,
        "stage_index": r.stage_index,
        "stage_users": r.stage_users,
        "seq": r.seq,
        "turn": r.turn,
        "n_in_source": r.n_in_source,
        "n_out_source": r.n_out_source,
        "finish_reason": r.finish_reason,
        "error_detail": detail,
        "retry_after_s": r.retry_after_s,
        "retry_wait_s": r.retry_wait_s,
    }


def _request_latencies(r: RequestRecord) -> dict[str, FieldValue | None]:
    itl = timing.itl_ms(r)
    return {
        "ttft_ms": timing.ttft_ms(r),
        "ttft_sched_ms": timing.ttft_sched_ms(r),
        "ttfo_ms": timing.ttfo_ms(r),
        "tpot_ms": timing.tpot_ms(r),
        "e2e_ms": timing.e2e_ms(r),
        "itl_mean_ms": sum(itl) / len(itl) if itl else None,
        "itl_max_ms": max(itl) if itl else None,
    }


def _ollama_fields(r: RequestRecord) -> dict[str, FieldValue | None]:
    breakdown = timing.ollama_breakdown_ms(r)
    return dataclasses.asdict(breakdown) if breakdown is not None else {}


def interval_point(
    tags: Mapping[str, str],
    worker: str,
    wall_unix_ns: int,
    requests: int,
    errors: int,
    output_tokens: int,
    users: int,
    cpu_pct: float,
    loop_lag_max_ms: float | None = None,
    loop_lag_p99_ms: float | None = None,
) -> LinePoint:
    """The `llm_interval` point of one worker's interval (loop lag: the event loop's delay)."""
    fields: dict[str, FieldValue | None] = {
        "requests": int(requests),
        "errors": int(errors),
        "output_tokens": int(output_tokens),
        "users": int(users),
        "cpu_pct": float(cpu_pct),
        "loop_lag_max_ms": loop_lag_max_ms,
        "loop_lag_p99_ms": loop_lag_p99_ms,
    }
    return LinePoint.build(LLM_INTERVAL.name, {**tags, "worker": worker}, fields, wall_unix_ns)


def stage_point(
    stage: Any, tags: Mapping[str, str], window_start_unix_ns: int, window_end_unix_ns: int
) -> LinePoint:
    """The `llm_stage` point of a load level (a LevelSummary dataclass or a mapping), at the
    end of its window. Counts are ints, every other number a float, so types never conflict."""
    values = stage if isinstance(stage, Mapping) else _asdict(stage)
    fields: dict[str, FieldValue | None] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or name in tags:
            continue
        if name.endswith("_unix_ns"):  # the window's bounds: the point's time and window_s
            continue
        fields[name] = int(value) if name in STAGE_INT_FIELDS else float(value)
    fields["window_s"] = (window_end_unix_ns - window_start_unix_ns) / 1e9
    return LinePoint.build(LLM_STAGE.name, tags, fields, window_end_unix_ns)


def event_point(tags: Mapping[str, str], kind: str, text: str, wall_unix_ns: int) -> LinePoint:
    """The `llm_event` point (an annotation); kind is run_start, run_end, stage_start, ..."""
    return LinePoint.build(LLM_EVENT.name, {**tags, "kind": kind}, {"text": text}, wall_unix_ns)


def capacity_point(
    tags: Mapping[str, str], mode: str, fields: Mapping[str, Any], wall_unix_ns: int
) -> LinePoint:
    """The `llm_capacity` point of one search: the capacity and the figures where it held."""
    typed = {k: _cast(LLM_CAPACITY.fields[k], v) for k, v in fields.items() if v is not None}
    return LinePoint.build(LLM_CAPACITY.name, {**tags, "mode": mode}, typed, wall_unix_ns)


def sample_points(sample: ResourceSample, tags: Mapping[str, str]) -> list[LinePoint]:
    """The points of one sidecar sample; `tags` should hold run_id and engine.

    A ProcessSample gives a `process` point and, when NVML knew its memory, a `gpu_process` one.
    """
    base = {k: v for k, v in tags.items() if k in ("run_id", "engine")}
    values = _asdict(sample)
    time_ns = int(values.pop("wall_unix_ns"))
    if isinstance(sample, GpuSample):
        points = [_typed(GPU, base, values, time_ns)]
    elif isinstance(sample, ProcessSample):
        points = [
            _typed(PROCESS, base, values, time_ns),
            _typed(GPU_PROCESS, base, values, time_ns),
        ]
    elif isinstance(sample, HostSample):
        points = [_typed(HOST, base, values, time_ns)]
    else:
        extra = values.pop("extra") or {}
        values.update({f"extra_{_field_name(k)}": float(v) for k, v in extra.items()})
        points = [_typed(ENGINE, base, values, time_ns, extra_floats=True)]
    return [p for p in points if _has_measure(p)]


def _typed(
    m: Measurement,
    base: Mapping[str, str],
    values: Mapping[str, Any],
    time_ns: int,
    extra_floats: bool = False,
) -> LinePoint:
    tags = {**base, **{k: str(values[k]) for k in m.tags if k in values}}
    fields: dict[str, FieldValue | None] = {}
    for name, value in values.items():
        kind = m.fields.get(name, "float" if extra_floats and name.startswith("extra_") else None)
        if kind is not None and value is not None:
            fields[name] = _cast(kind, value)
    return LinePoint.build(m.name, tags, fields, time_ns)


def _has_measure(point: LinePoint) -> bool:
    # gpu_process without gpu_memory_bytes only repeats the process point: skip it.
    names = {k for k, _ in point.fields}
    return bool(names) and (point.measurement != GPU_PROCESS.name or "gpu_memory_bytes" in names)


def _cast(kind: FieldKind, value: Any) -> FieldValue:
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def _field_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _asdict(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(vars(obj))
