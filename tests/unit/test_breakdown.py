"""The server-side breakdown of a level: vLLM's /metrics between two snapshots (written by
prometheus_client, as vLLM writes it), Ollama's per-request durations, and the client share."""

from __future__ import annotations

import dataclasses
import statistics
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from loadgen.breakdown import (
    OLLAMA_SOURCE,
    VLLM_SOURCE,
    client_ttft_mean_ms,
    vllm_fields,
    window_fields,
)
from loadgen.level_summary import LevelSummary, summarize_samples, with_server
from loadgen.prometheus import parse_snapshot
from loadgen.records import OllamaTimings, RequestRecord
from loadgen.schema import BREAKDOWN_FIELDS, LLM_STAGE
from loadgen.sim.metrics import ITL_BUCKETS_S, REQUEST_LATENCY_BUCKETS_S, TTFT_BUCKETS_S
from loadgen.stats import LevelSamples

LABELS = ("model_name", "engine")
HISTOGRAMS = {  # vLLM 0.32's names and bucket edges (vllm/v1/metrics/loggers.py, buckets.py)
    "vllm:time_to_first_token_seconds": TTFT_BUCKETS_S,
    "vllm:request_queue_time_seconds": REQUEST_LATENCY_BUCKETS_S,
    "vllm:request_prefill_time_seconds": REQUEST_LATENCY_BUCKETS_S,
    "vllm:request_decode_time_seconds": REQUEST_LATENCY_BUCKETS_S,
    "vllm:e2e_request_latency_seconds": REQUEST_LATENCY_BUCKETS_S,
    "vllm:inter_token_latency_seconds": ITL_BUCKETS_S,
}


class FakeVllmRegistry:
    """vLLM's Prometheus metrics as its logger declares them, for two data-parallel engines;
    `text()` is what its /metrics serves (prometheus_client's own exposition)."""

    def __init__(self, itl_name: str = "vllm:inter_token_latency_seconds") -> None:
        self.registry = CollectorRegistry()
        names = {**HISTOGRAMS}
        names[itl_name] = names.pop("vllm:inter_token_latency_seconds")
        self.hist = {
            name: Histogram(name, name, LABELS, buckets=edges, registry=self.registry)
            for name, edges in names.items()
        }
        self.itl_name = itl_name
        self.preemptions = Counter("vllm:num_preemptions", "p", LABELS, registry=self.registry)
        self.hits = Counter("vllm:prefix_cache_hits", "h", LABELS, registry=self.registry)
        self.queries = Counter("vllm:prefix_cache_queries", "q", LABELS, registry=self.registry)
        self.kv = Gauge("vllm:kv_cache_usage_perc", "kv", LABELS, registry=self.registry)

    def observe(self, name: str, value_s: float, engine: str = "0") -> None:
        self.hist[name].labels("m", engine).observe(value_s)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def test_means_are_exact_and_label_sets_sum() -> None:
    reg = FakeVllmRegistry()
    reg.observe("vllm:request_queue_time_seconds", 0.5, engine="0")  # before the window
    start = parse_snapshot(reg.text(), 1_000)
    queue_s = [0.01, 0.2, 0.4, 2.0]
    for i, q in enumerate(queue_s):
        reg.observe("vllm:request_queue_time_seconds", q, engine=str(i % 2))
        reg.observe("vllm:e2e_request_latency_seconds", 3 * q, engine=str(i % 2))
        reg.observe("vllm:time_to_first_token_seconds", q + 0.05)
    reg.preemptions.labels("m", "1").inc(3)
    reg.hits.labels("m", "0").inc(30)
    reg.queries.labels("m", "0").inc(120)
    reg.kv.labels("m", "0").set(0.9)
    middle = parse_snapshot(reg.text(), 2_000)
    reg.kv.labels("m", "0").set(0.1)
    end = parse_snapshot(reg.text(), 3_000)
    fields = vllm_fields(start, end, [middle])
    assert fields["breakdown_source"] == VLLM_SOURCE
    assert fields["server_requests"] == 4
    assert fields["queue_mean_ms"] == pytest.approx(1000 * statistics.fmean(queue_s))
    assert fields["server_e2e_mean_ms"] == pytest.approx(3000 * statistics.fmean(queue_s))
    assert fields["server_ttft_mean_ms"] == pytest.approx(1000 * statistics.fmean(queue_s) + 50)
    assert fields["preemptions"] == 3
    assert fields["prefix_cache_hit_rate"] == pytest.approx(0.25)
    assert fields["kv_cache_usage_peak_ratio"] == pytest.approx(0.9)
    assert (fields["server_window_start_unix_ns"], fields["server_window_end_unix_ns"]) == (
        1_000,
        3_000,
    )
    # three of four in (0, 0.3] and (0.3, 0.5]: the median is interpolated inside (0.3, 0.5]
    assert 300 <= fields["queue_p50_bucketed_ms"] <= 500
    assert fields["queue_p99_bucketed_ms"] <= 2500
    # not served by this engine, or nothing observed: None, never 0
    assert fields["prefill_mean_ms"] is None and fields["prefill_p95_bucketed_ms"] is None
    assert fields["server_itl_mean_ms"] is None


def test_older_names_and_a_reset() -> None:
    reg = FakeVllmRegistry(itl_name="vllm:time_per_output_token_seconds")
    start = parse_snapshot(reg.text(), 0)
    reg.observe("vllm:time_per_output_token_seconds", 0.02)
    reg.observe("vllm:time_per_output_token_seconds", 0.04)
    reg.preemptions.labels("m", "0").inc(2)
    end = parse_snapshot(reg.text(), 1)
    assert vllm_fields(start, end)["server_itl_mean_ms"] == pytest.approx(30)
    assert vllm_fields(start, end)["preemptions"] == 2
    time.sleep(0.01)  # prometheus_client's _created has the wall clock's resolution
    again = FakeVllmRegistry(itl_name="vllm:time_per_output_token_seconds")  # a restart
    restarted = parse_snapshot(again.text(), 2)  # counts back at 0
    fields = vllm_fields(end, restarted)
    assert fields["server_itl_mean_ms"] is None and fields["preemptions"] is None
    # ... or already past where they were: their _created tells
    for _ in range(3):
        again.observe("vllm:time_per_output_token_seconds", 0.02)
    again.preemptions.labels("m", "0").inc(5)
    fields = vllm_fields(end, parse_snapshot(again.text(), 3))
    assert fields["server_itl_mean_ms"] is None and fields["preemptions"] is None
    old = "vllm:gpu_prefix_cache_queries_total {q}\nvllm:gpu_prefix_cache_hits_total {h}\n"
    a = parse_snapshot(old.format(q=10, h=1), 0)
    b = parse_snapshot(old.format(q=20, h=6), 1)
    assert vllm_fields(a, b)["prefix_cache_hit_rate"] == pytest.approx(0.5)
    assert vllm_fields(a, a)["prefix_cache_hit_rate"] is None  # nothing queried


def test_nothing_served_leaves_every_field_empty() -> None:
    empty = parse_snapshot("vllm:num_requests_running 1\n", 0)
    fields = vllm_fields(empty, dataclasses.replace(empty, wall_unix_ns=1))
    assert fields["breakdown_source"] == ""
    assert all(fields[name] is None for name in BREAKDOWN_FIELDS if name in fields)


def test_window_uses_the_snapshots_nearest_its_bounds() -> None:
    reg = FakeVllmRegistry()
    snaps = []
    for t, q in enumerate((0.1, 0.2, 0.4, 0.8)):
        snaps.append(parse_snapshot(reg.text(), t * 100))
        reg.observe("vllm:request_queue_time_seconds", q)
    fields = window_fields(snaps, 95, 310, within_ns=20)
    assert fields["server_window_start_unix_ns"] == 100
    assert fields["server_window_end_unix_ns"] == 300
    assert fields["queue_mean_ms"] == pytest.approx(300)  # 0.2 and 0.4
    assert window_fields(snaps, 150, 300, within_ns=20) == {}  # no scrape near the start


def _ollama_record(seq: int, queue_ns: int) -> RequestRecord:
    load, prompt, evals = 2_000_000, 30_000_000, 200_000_000
    total = queue_ns + load + prompt + evals
    return RequestRecord(
        run_id="r",
        api="ollama",
        model="m",
        user_class="Chat",
        worker="w",
        stage_index=0,
        stage_users=1,
        seq=seq,
        wall_send_unix_ns=0,
        t_send_ns=0,
        t_end_ns=total + 5_000_000,
        t_first_ns=queue_ns + load + prompt + 3_000_000,
        t_last_ns=total + 4_000_000,
        frame_times_ns=(queue_ns + load + prompt + 3_000_000, total + 4_000_000),
        n_out=2,
        n_out_source="eval_count",
        ok=True,
        ollama=OllamaTimings(total, load, 7, prompt, 2, evals),
    )


def test_ollama_gives_the_same_fields_exactly() -> None:
    samples = LevelSamples()
    queues_ms = [0, 10, 20, 30, 400]
    for i, q in enumerate(queues_ms):
        samples.add(_ollama_record(i, q * 1_000_000))
    level = summarize_samples(samples, 10.0, 1)
    assert level.breakdown_source == OLLAMA_SOURCE and level.server_requests == 5
    assert level.queue_mean_ms == pytest.approx(statistics.fmean(queues_ms))
    assert level.queue_p95_ms == pytest.approx(30 + 0.8 * 370)  # between ranks, as everywhere
    assert level.queue_p50_ms == pytest.approx(20)
    assert level.prefill_mean_ms == pytest.approx(30) and level.decode_mean_ms == pytest.approx(200)
    assert level.load_mean_ms == pytest.approx(2)
    assert level.server_ttft_mean_ms == pytest.approx(statistics.fmean(queues_ms) + 32)
    assert level.server_e2e_mean_ms == pytest.approx(statistics.fmean(queues_ms) + 232)
    # the client saw its first token 3 ms after the server's estimate
    assert level.client_overhead_ms == pytest.approx(3)
    assert level.queue_p95_bucketed_ms is None  # exact here: no bucketed twin


def test_with_server_keeps_ollama_exact_and_rejects_unknown_fields() -> None:
    samples = LevelSamples()
    samples.add(_ollama_record(0, 10_000_000))
    level = summarize_samples(samples, 1.0, 1)
    merged = with_server(level, {"queue_mean_ms": 99.0, "kv_cache_usage_peak_ratio": 0.5})
    assert merged == level  # Ollama's own numbers, not another engine's view
    with pytest.raises(ValueError, match="queue_ms"):
        with_server(level, {"queue_ms": 1.0})


def _timed_record(seq: int, wall_send_unix_ns: int, ttft_ms: float, e2e_ms: float) -> RequestRecord:
    return RequestRecord(
        run_id="r",
        api="openai",
        model="m",
        user_class="Chat",
        worker="w",
        stage_index=0,
        stage_users=4,
        seq=seq,
        wall_send_unix_ns=wall_send_unix_ns,
        t_send_ns=1_000,
        t_end_ns=1_000 + int(e2e_ms * 1e6),
        t_first_ns=1_000 + int(ttft_ms * 1e6),
        n_out=1,
    )


def test_the_client_share_compares_the_requests_vllm_counted() -> None:
    """vLLM counts a TTFT when the first token comes; the level's TTFT mean is over requests
    that ended in the window. Queued requests that started in the window and end after it
    count on vLLM's side only, so the share subtracts the client's mean over the same ones."""
    s = 1_000_000_000
    start, end = 10 * s, 20 * s
    records = [
        _timed_record(0, 9 * s, ttft_ms=1500, e2e_ms=1600),  # first token at 10.5 s: counted
        _timed_record(1, 12 * s, ttft_ms=100, e2e_ms=200),  # inside
        _timed_record(2, 19 * s, ttft_ms=900, e2e_ms=5000),  # first token 19.9 s, ends after
        _timed_record(3, 19 * s + 950_000_000, ttft_ms=200, e2e_ms=300),  # first token after
        # cut mid-stream after its first token (a stall, the run's end): vLLM counted it too
        dataclasses.replace(_timed_record(4, 12 * s, 50, 60), ok=False),
        # refused before any token (a 429): no TTFT on either side
        dataclasses.replace(_timed_record(5, 13 * s, 70, 80), ok=False, t_first_ns=None),
    ]
    assert client_ttft_mean_ms(records, start, end) == pytest.approx((1500 + 100 + 900 + 50) / 4)
    assert client_ttft_mean_ms(records, 30 * s, 40 * s) is None
    level = LevelSummary(**{**_empty_level_fields(), "ttft_mean_ms": 400.0})
    server = {"breakdown_source": VLLM_SOURCE, "server_ttft_mean_ms": 830.0}
    assert with_server(level, server, 833.0).client_overhead_ms == pytest.approx(3.0)
    assert with_server(level, server).client_overhead_ms == pytest.approx(-430.0)  # old reading


def _empty_level_fields() -> dict[str, object]:
    level = summarize_samples(LevelSamples(), 1.0, 4)
    return {f.name: getattr(level, f.name) for f in dataclasses.fields(level)}


def test_every_breakdown_field_is_a_level_summary_field_on_llm_stage() -> None:
    names = {f.name for f in dataclasses.fields(LevelSummary)}
    reg = FakeVllmRegistry()
    produced = set(vllm_fields(parse_snapshot(reg.text(), 0), parse_snapshot(reg.text(), 1)))
    assert produced <= names
    assert set(BREAKDOWN_FIELDS) <= names and set(BREAKDOWN_FIELDS) <= set(LLM_STAGE.fields)
    assert produced - {"breakdown_source"} - {n for n in produced if n.endswith("_unix_ns")} <= set(
        LLM_STAGE.fields
    )
