"""One load level's summary (LevelSummary) and how it is built: from the samples of its steady
window, the server's breakdown (loadgen/breakdown.py) and the sidecar's resource series.

Throughput counts requests that finished inside the level's window (warmup/ramp excluded):
req_s = successful requests ÷ window_s, output_tok_s = Σ N_out of successful requests ÷ window_s.
Latency percentiles are over the successful requests that finished in the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loadgen.breakdown import OLLAMA_SOURCE, VLLM_SOURCE, ollama_fields
from loadgen.errors import LoadgenError
from loadgen.levels import Level, ResourceSeries
from loadgen.stats import LevelSamples

NS_PER_S = 1_000_000_000


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
    # Inter-token gaps, and those that read 0 ms: frames that came closer together than the
    # reader's tick share a read and its stamp (docs/swarm.md), so ITL below it is not resolved
    itl_gaps: int = 0
    itl_shared_gaps: int = 0
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
        itl_gaps=samples.itl_gaps,
        itl_shared_gaps=samples.itl_shared_gaps,
    )


def client_overhead_ms(
    level: LevelSummary, client_ttft_mean_ms: float | None = None
) -> float | None:
    """Client TTFT mean − server TTFT mean: the network, HTTP and the API server in front of
    the engine (for vLLM also tokenising the prompt and detokenising the first token). For a
    /metrics breakdown, `client_ttft_mean_ms` is the client's mean over the requests whose first
    token came between the scrapes (breakdown.client_ttft_mean_ms), the ones vLLM counted."""
    client = level.ttft_mean_ms
    if level.breakdown_source == VLLM_SOURCE and client_ttft_mean_ms is not None:
        client = client_ttft_mean_ms
    server = level.server_ttft_mean_ms
    return None if client is None or server is None else client - server


def with_server(
    level: LevelSummary, fields: Mapping[str, Any], client_ttft_mean_ms: float | None = None
) -> LevelSummary:
    """`level` with server-side `fields` (loadgen/breakdown.py) and its client share. A level
    that has Ollama's exact breakdown keeps it, and takes nothing from a /metrics (Ollama has
    none: a server that also speaks vLLM's, as the simulator, would mix two engines' views)."""
    unknown = set(fields) - _FIELD_NAMES
    if unknown:
        raise ValueError(f"not LevelSummary fields: {sorted(unknown)}")
    if level.breakdown_source != OLLAMA_SOURCE:
        level = replace(level, **fields)
    return replace(level, client_overhead_ms=client_overhead_ms(level, client_ttft_mean_ms))


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
