"""Raw measurements as frozen dataclasses: one request, one sidecar sample.

Records hold only raw timestamps and counts; every derived metric (TTFT, ITL, ...) lives in
`loadgen.timing`, so there is exactly one definition of each. Units are in every name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

Api = Literal["openai", "ollama"]
# Where N_out came from, best first: the server's usage block, Ollama's eval_count, or a count
# of the streamed frames/words made by the client.
TokenSource = Literal["usage", "eval_count", "estimate", "none"]
# A failed request carries exactly one of these classes (see README "Errors").
ErrorType = Literal[
    "http_status",  # non-2xx status (the code is in http_status)
    "connect",  # could not connect, or the connection was reset
    "timeout",  # the whole request exceeded its timeout
    "stall",  # no frame for longer than --stall-timeout mid-stream
    "malformed",  # a frame that is not valid JSON / SSE
    "truncated",  # the stream ended before [DONE] / done:true
    "server_error",  # a 2xx body or frame that carries an error object
]


@dataclass(frozen=True, slots=True)
class OllamaTimings:
    """Server-side durations from Ollama's final frame, all in ns as Ollama sends them."""

    total_duration_ns: int
    load_duration_ns: int
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_count: int
    eval_duration_ns: int


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the client saw it.

    All `t_*_ns` values come from `time.perf_counter_ns()` in the process that sent the request
    (CLOCK_MONOTONIC on Linux, so comparable across processes of one host). `wall_send_unix_ns`
    anchors them to wall-clock time for storage (InfluxDB timestamps, reports).
    """

    run_id: str
    api: Api
    model: str
    user_class: str
    worker: str
    stage_index: int  # index of the load level (step) the request was sent in; 0 if no steps
    stage_users: int  # target number of users of that level
    seq: int  # per-worker sequence number; (worker, seq) is unique within a run
    wall_send_unix_ns: int
    t_send_ns: int
    t_end_ns: int  # when the request finished or failed
    t_sched_ns: int | None = None  # open loop: when the request was meant to start
    t_first_ns: int | None = None  # first frame carrying content, reasoning or a tool call
    t_first_output_ns: int | None = None  # first frame carrying non-reasoning content
    t_last_ns: int | None = None  # last token-bearing frame
    frame_times_ns: tuple[int, ...] = ()  # every token-bearing frame, in arrival order
    n_in: int | None = None  # prompt tokens (server usage, else client estimate)
    n_in_source: TokenSource = "none"
    n_out: int = 0
    n_out_source: TokenSource = "none"
    # Token-bearing frames the parser counted, beside the server's n_out (None: not counted)
    token_frames: int | None = None
    ok: bool = True
    error_type: ErrorType | None = None
    error_detail: str | None = None  # short reason for humans; never used as a tag
    http_status: int | None = None
    retry_after_s: float | None = None  # the answer's Retry-After (429, 503, ...), as sent
    retry_wait_s: float | None = None  # time waited, on the last answer's Retry-After, before this
    finish_reason: str | None = None
    turn: int = 0  # multi-turn: index of the turn within its conversation
    ollama: OllamaTimings | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of requests.jsonl): `dataclasses.asdict`'s, at a fiftieth
        of its cost (msgspec; about 3 us for a record of 256 frames)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data["frame_times_ns"] = self.frame_times_ns  # a tuple, as asdict leaves it
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        """Inverse of `to_dict`; unknown keys are ignored so old readers survive new fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["frame_times_ns"] = tuple(kwargs.get("frame_times_ns") or ())
        if "token_frames" not in kwargs:  # written before the count: one time per frame
            kwargs["token_frames"] = len(kwargs["frame_times_ns"])
        if kwargs.get("ollama"):
            kwargs["ollama"] = OllamaTimings(**kwargs["ollama"])
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One NVML (or simulated) reading of one GPU."""

    wall_unix_ns: int
    gpu_index: int
    gpu_name: str
    vram_used_bytes: int
    vram_total_bytes: int
    vram_reserved_bytes: int | None = None
    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None
    power_w: float | None = None
    energy_j: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    throttle_reasons: int | None = None  # NVML bitmask
    source: Literal["nvml", "sim"] = "nvml"


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """The engine's process tree (children summed) at one instant."""

    wall_unix_ns: int
    root_pid: int
    process_name: str
    n_processes: int
    rss_bytes: int
    cpu_pct: float  # summed over the tree; 100 = one full core
    gpu_memory_bytes: int | None = None  # NVML per-process memory of the tree, when known
    alive: bool = True


@dataclass(frozen=True, slots=True)
class HostSample:
    """Whole-host RAM and CPU at one instant."""

    wall_unix_ns: int
    ram_used_bytes: int
    ram_total_bytes: int
    cpu_pct: float  # 0..100 averaged over all cores


@dataclass(frozen=True, slots=True)
class EngineSample:
    """Engine-side state scraped from vLLM /metrics, Ollama /api/ps or the simulator."""

    wall_unix_ns: int
    engine: str  # "vllm", "ollama" or "sim"
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_usage_ratio: float | None = None  # 0..1
    preemptions_total: float | None = None
    model_size_bytes: int | None = None  # Ollama /api/ps `size`
    model_size_vram_bytes: int | None = None  # Ollama /api/ps `size_vram`
    extra: dict[str, float] = field(default_factory=dict)


NoticeSource = Literal["nvml", "process", "host", "engine", "sidecar"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A degradation worth knowing about: no GPU, an NVML error, an engine that exited."""

    wall_unix_ns: int
    source: NoticeSource
    message: str  # one line, for humans


# What the sidecar emits, one per sidecar.jsonl line (`loadgen.results` holds the codec).
SidecarSample = GpuSample | ProcessSample | HostSample | EngineSample | Notice
