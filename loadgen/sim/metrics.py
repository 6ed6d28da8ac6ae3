"""GET /metrics: Prometheus text with vLLM's metric names, rendered from the engine state."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from loadgen.sim.engine import Engine, Sequence
from loadgen.sim.truth import TruthRow

# vLLM's own bucket edges (seconds), from vllm/v1/metrics/buckets.py (vLLM 0.32).
TTFT_BUCKETS_S = (
    *(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5),
    *(10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0),
)
# queue, prefill, decode and E2E share these
REQUEST_LATENCY_BUCKETS_S = (
    *(0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0),
    *(120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0),
)
ITL_BUCKETS_S = (
    *(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5),
    *(10.0, 20.0, 40.0, 80.0),
)


@dataclass
class Histogram:
    """A cumulative Prometheus histogram over fixed bucket edges (seconds)."""

    edges_s: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum_s: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.edges_s)

    def observe(self, value_s: float) -> None:
        i = bisect.bisect_left(self.edges_s, value_s)
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum_s += value_s
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for edge, n in zip(self.edges_s, self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels},le="{edge}"}} {float(running)}')
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {float(self.count)}')
        out.append(f"{name}_count{{{labels}}} {float(self.count)}")
        out.append(f"{name}_sum{{{labels}}} {self.sum_s}")
        return out


@dataclass
class MetricsBook:
    """Histograms and counters the handlers feed; gauges are read from the engine."""

    ttft: Histogram = field(default_factory=lambda: Histogram(TTFT_BUCKETS_S))
    queue: Histogram = field(default_factory=lambda: Histogram(REQUEST_LATENCY_BUCKETS_S))
    prefill: Histogram = field(default_factory=lambda: Histogram(REQUEST_LATENCY_BUCKETS_S))
    decode: Histogram = field(default_factory=lambda: Histogram(REQUEST_LATENCY_BUCKETS_S))
    e2e: Histogram = field(default_factory=lambda: Histogram(REQUEST_LATENCY_BUCKETS_S))
    itl: Histogram = field(default_factory=lambda: Histogram(ITL_BUCKETS_S))
    requests_ok: int = 0
    requests_failed: int = 0


def observe_finished(book: MetricsBook, row: TruthRow, seq: Sequence, now_ns: int) -> None:
    """vLLM's per-request histograms, observed as it does when a request finishes: prefill
    (scheduled -> first token), decode (first -> last token) and E2E (arrival -> now), on the
    truth row too. A request that never produced a token is not observed."""
    if seq.admitted_ns is None or seq.first_token_ns is None:
        return
    last = seq.last_token_ns or seq.first_token_ns
    row.prefill_ns = seq.first_token_ns - seq.admitted_ns
    row.decode_ns = last - seq.first_token_ns
    row.e2e_ns = now_ns - row.arrival_mono_ns
    row.finished_mono_ns = now_ns
    book.prefill.observe(row.prefill_ns / 1e9)
    book.decode.observe(row.decode_ns / 1e9)
    book.e2e.observe(row.e2e_ns / 1e9)


def _scalars(engine: Engine) -> list[tuple[str, str, str, float]]:
    """(type, name, help, value) of every gauge and counter."""
    kv = engine.kv_usage_ratio()
    return [
        (
            "gauge",
            "vllm:num_requests_running",
            "Requests in model execution batches.",
            float(len(engine.running)),
        ),
        (
            "gauge",
            "vllm:num_requests_waiting",
            "Requests waiting to be processed.",
            float(len(engine.waiting)),
        ),
        ("gauge", "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent.", kv),
        ("gauge", "vllm:gpu_cache_usage_perc", "KV-cache usage (pre-v1 name).", kv),
        (
            "counter",
            "vllm:num_preemptions_total",
            "Cumulative preemptions.",
            float(engine.preemptions_total),
        ),
        (
            "counter",
            "vllm:prompt_tokens_total",
            "Prefill tokens processed.",
            float(engine.tokens_in_total),
        ),
        (
            "counter",
            "vllm:generation_tokens_total",
            "Generation tokens processed.",
            float(engine.tokens_out_total),
        ),
    ]


def render(engine: Engine, book: MetricsBook, model: str) -> str:
    """The whole /metrics document."""
    labels = f'model_name="{model}"'
    lines: list[str] = []
    for kind, name, doc, value in _scalars(engine):
        lines += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} {value}"]
    histograms = (
        (
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            book.ttft,
        ),
        (
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            book.queue,
        ),
        (
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            book.prefill,
        ),
        (
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            book.decode,
        ),
        (
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            book.e2e,
        ),
        (
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            book.itl,
        ),
    )
    for name, doc, hist in histograms:
        lines += [f"# HELP {name} {doc}", f"# TYPE {name} histogram", *hist.lines(name, labels)]
    return "\n".join(lines) + "\n"
