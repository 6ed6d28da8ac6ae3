"""Per-level and per-run summaries: throughput over the steady window, exact latency percentiles.

Throughput counts requests that finished inside the level's window (warmup/ramp excluded):
req_s = successful requests ÷ window_s, output_tok_s = Σ N_out of successful requests ÷ window_s.
Latency percentiles are over the successful requests that finished in the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loadgen.errors import LoadgenError
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples, samples_in_window

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LevelSummary:
    """One load level (a number of concurrent users) over its steady window."""

    stage_index: int
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
    errors_by_type: dict[str, int] = field(default_factory=dict)
    n_out_sources: dict[str, int] = field(default_factory=dict)  # "usage" -> count, ...
    # From the sidecar (None without one). Idle = before the run's first level started.
    vram_idle_bytes: int | None = None  # VRAM summed over GPUs
    vram_peak_bytes: int | None = None  # max inside this level's steady window
    engine_rss_idle_bytes: int | None = None  # the engine's process tree
    engine_rss_peak_bytes: int | None = None


def summarize_samples(
    samples: LevelSamples, window_s: float, users: int, stage_index: int = 0
) -> LevelSummary:
    """A LevelSummary from (possibly merged) samples of a window of `window_s` seconds."""
    if window_s <= 0:
        raise LoadgenError(f"level {stage_index} has an empty measurement window ({window_s} s)")
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
        queue_p50_ms=p("queue_ms", 50),
        prefill_p50_ms=p("prefill_ms", 50),
        decode_p50_ms=p("decode_ms", 50),
        network_client_p50_ms=p("network_client_ms", 50),
        errors_by_type=dict(sorted(samples.errors_by_type.items())),
        n_out_sources=dict(sorted(samples.n_out_sources.items())),
    )


def summarize_level(
    records: Iterable[RequestRecord],
    window_start_ns: int,
    window_end_ns: int,
    users: int,
    stage_index: int = 0,
) -> LevelSummary:
    """Summarize the records that finished in [window_start_ns, window_end_ns) (perf_counter ns,
    the clock of t_end_ns); records outside the window are ignored, so all records may be passed."""
    samples = samples_in_window(records, window_start_ns, window_end_ns)
    window_s = (window_end_ns - window_start_ns) / NS_PER_S
    return summarize_samples(samples, window_s, users, stage_index)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Every level of one run, plus run-wide totals; `to_dict()` is summary.json."""

    run_id: str
    levels: tuple[LevelSummary, ...]
    meta: dict[str, Any] = field(default_factory=dict)  # engine, model, api, scenario, ...

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "meta": dict(self.meta),
            "levels": [dataclasses.asdict(level) for level in self.levels],
            "totals": self.totals,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Inverse of `to_dict`; unknown level keys are ignored."""
        names = {f.name for f in dataclasses.fields(LevelSummary)}
        levels = tuple(
            LevelSummary(**{k: v for k, v in level.items() if k in names})
            for level in data.get("levels", [])
        )
        return cls(run_id=str(data.get("run_id", "")), levels=levels, meta=data.get("meta", {}))


_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # header, LevelSummary field, format
    ("users", "users", "d"),
    ("requests", "requests", "d"),
    ("errors", "errors", "d"),
    ("req/s", "req_s", ".2f"),
    ("output tok/s", "output_tok_s", ".1f"),
    ("TTFT p50 ms", "ttft_p50_ms", ".0f"),
    ("TTFT p95 ms", "ttft_p95_ms", ".0f"),
    ("TTFT p99 ms", "ttft_p99_ms", ".0f"),
    ("ITL p50 ms", "itl_p50_ms", ".1f"),
    ("ITL p99 ms", "itl_p99_ms", ".1f"),
    ("TPOT p50 ms", "tpot_p50_ms", ".1f"),
    ("E2E p95 ms", "e2e_p95_ms", ".0f"),
)


# Shown only when a sidecar ran: bytes printed as GB (1e9), like the reference table.
_RESOURCE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("VRAM idle GB", "vram_idle_bytes", ".2f"),
    ("VRAM peak GB", "vram_peak_bytes", ".2f"),
    ("RSS peak GB", "engine_rss_peak_bytes", ".2f"),
)
_BYTES_PER_GB = 1e9


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _columns(levels: Iterable[LevelSummary]) -> tuple[tuple[str, str, str], ...]:
    measured = {
        name for lv in levels for _, name, _ in _RESOURCE_COLUMNS if getattr(lv, name) is not None
    }
    return _COLUMNS + tuple(c for c in _RESOURCE_COLUMNS if c[1] in measured)


def _value(level: LevelSummary, name: str) -> Any:
    value = getattr(level, name)
    return value / _BYTES_PER_GB if name.endswith("_bytes") and value is not None else value


def format_table(summary: RunSummary) -> str:
    """A plain-text table, one row per level, right-aligned; '-' where a value is undefined.

    VRAM and engine RSS columns appear when a sidecar measured them."""
    columns = _columns(summary.levels)
    rows = [[header for header, _, _ in columns]]
    for level in summary.levels:
        rows.append([_cell(_value(level, name), fmt) for _, name, fmt in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
