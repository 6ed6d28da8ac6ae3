"""Where a level's TTFT went on the server (docs/engine-insight.md): from vLLM's /metrics
scraped at the window's bounds, or from Ollama's per-request durations; and the client's share.

vLLM means are exact (sum and count deltas); its percentiles are interpolated from bucket
deltas and named `_bucketed`. Ollama's come from every request's final frame: all exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from loadgen.prometheus import (
    HistogramDelta,
    Snapshot,
    counter_delta,
    gauge_peak,
    histogram_delta,
    nearest,
)
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples

MS_PER_S = 1000.0
VLLM_SOURCE = "vllm_metrics"
OLLAMA_SOURCE = "ollama_timings"

# field stem -> (vLLM histogram names, first served wins; bucketed percentiles given)
VLLM_HISTOGRAMS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "server_ttft": (("vllm:time_to_first_token_seconds",), (50, 95, 99)),
    "queue": (("vllm:request_queue_time_seconds",), (50, 95, 99)),
    "prefill": (("vllm:request_prefill_time_seconds",), (50, 95)),
    "decode": (("vllm:request_decode_time_seconds",), (50, 95)),
    "server_e2e": (("vllm:e2e_request_latency_seconds",), (50, 95)),
    # per token gap; vLLM before V1 called it time_per_output_token
    "server_itl": (
        ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        (50, 99),
    ),
}
VLLM_PREEMPTIONS = ("vllm:num_preemptions_total",)
# (hits, queries) pairs of one vLLM generation each: V1, then the older gpu_ names
VLLM_PREFIX_CACHE = (
    ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"),
    ("vllm:gpu_prefix_cache_hits_total", "vllm:gpu_prefix_cache_queries_total"),
)
VLLM_KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")

# Ollama: field stem -> (LevelSamples metric, exact percentiles given); p50s of queue, prefill
# and decode predate the breakdown and keep their names.
OLLAMA_METRICS: dict[str, tuple[str, tuple[int, ...]]] = {
    "server_ttft": ("server_ttft_ms", (50, 95, 99)),
    "queue": ("queue_ms", (50, 95, 99)),
    "prefill": ("prefill_ms", (50, 95)),
    "decode": ("decode_ms", (50, 95)),
    "server_e2e": ("server_e2e_ms", (50, 95)),
    "load": ("load_ms", ()),
}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * MS_PER_S


def _histogram_fields(
    stem: str, hist: HistogramDelta | None, pcts: Iterable[int]
) -> dict[str, Any]:
    fields: dict[str, Any] = {f"{stem}_mean_ms": _ms(hist.mean) if hist else None}
    for pct in pcts:
        value = hist.quantile(pct / 100) if hist else None
        fields[f"{stem}_p{pct}_bucketed_ms"] = _ms(value)
    return fields


def prefix_cache_hit_rate(start: Snapshot, end: Snapshot) -> float | None:
    """Cached prompt tokens ÷ queried prompt tokens between the snapshots (0..1); None when
    nothing was queried, the counters are not served, or one was reset."""
    for hits_name, queries_name in VLLM_PREFIX_CACHE:
        hits = counter_delta(start, end, hits_name)
        queries = counter_delta(start, end, queries_name)
        if hits is not None and queries is not None:
            return hits / queries if queries > 0 else None
    return None


def vllm_fields(start: Snapshot, end: Snapshot, during: Iterable[Snapshot] = ()) -> dict[str, Any]:
    """The server-side LevelSummary fields of the window between two /metrics snapshots; every
    snapshot in `during` (and both bounds) counts for the KV-cache peak. Fields whose metrics
    the server does not serve, or that were reset in between, are None."""
    fields: dict[str, Any] = {}
    for stem, (names, pcts) in VLLM_HISTOGRAMS.items():
        fields.update(_histogram_fields(stem, histogram_delta(start, end, *names), pcts))
    e2e = histogram_delta(start, end, *VLLM_HISTOGRAMS["server_e2e"][0])
    preemptions = counter_delta(start, end, *VLLM_PREEMPTIONS)
    served = any(value is not None for value in fields.values())
    fields.update(
        breakdown_source=VLLM_SOURCE if served else "",
        server_requests=None if e2e is None else round(e2e.count),
        preemptions=None if preemptions is None else round(preemptions),
        prefix_cache_hit_rate=prefix_cache_hit_rate(start, end),
        kv_cache_usage_peak_ratio=gauge_peak([start, *during, end], *VLLM_KV_USAGE),
        server_window_start_unix_ns=start.wall_unix_ns,
        server_window_end_unix_ns=end.wall_unix_ns,
    )
    return fields


def window_fields(
    snapshots: Sequence[Snapshot], start_unix_ns: int, end_unix_ns: int, within_ns: int
) -> dict[str, Any]:
    """`vllm_fields` between the snapshots taken nearest the window's bounds; {} when a bound
    has none within `within_ns` of it (that scrape failed)."""
    first = nearest(snapshots, start_unix_ns, within_ns)
    last = nearest(snapshots, end_unix_ns, within_ns)
    if first is None or last is None or last.wall_unix_ns <= first.wall_unix_ns:
        return {}
    during = [s for s in snapshots if first.wall_unix_ns < s.wall_unix_ns < last.wall_unix_ns]
    return vllm_fields(first, last, during)


def ollama_fields(samples: LevelSamples) -> dict[str, Any]:
    """The server-side LevelSummary fields from Ollama's durations of the window's successful
    requests (exact means and percentiles); {} when none carried them."""
    count = len(samples.values["queue_ms"])
    if count == 0:
        return {}
    fields: dict[str, Any] = {"breakdown_source": OLLAMA_SOURCE, "server_requests": count}
    for stem, (metric, pcts) in OLLAMA_METRICS.items():
        fields[f"{stem}_mean_ms"] = samples.mean(metric)
        for pct in pcts:
            fields[f"{stem}_p{pct}_ms"] = samples.percentile(metric, pct)
    return fields


def client_ttft_mean_ms(
    records: Iterable[RequestRecord], start_unix_ns: int, end_unix_ns: int
) -> float | None:
    """The client's TTFT mean over the requests whose first token it read between two /metrics
    scrapes: the requests whose TTFT vLLM counted between them (it observes a TTFT when the
    first token comes, not when the request ends, and whatever happens to the request after:
    one cut mid-stream, by a stall or the run's end, counts too), so that the two means
    subtract."""
    total_ns = count = 0
    for r in records:
        if r.t_first_ns is None:
            continue
        ttft_ns = r.t_first_ns - r.t_send_ns
        if start_unix_ns <= r.wall_send_unix_ns + ttft_ns < end_unix_ns:
            total_ns += ttft_ns
            count += 1
    return total_ns / count / 1e6 if count else None
