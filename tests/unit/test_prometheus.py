"""Prometheus snapshots and their deltas: sums over label sets, counter resets, and quantiles
interpolated from buckets as Prometheus' histogram_quantile does."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.prometheus import (
    HistogramDelta,
    MetricsFormatError,
    counter_delta,
    gauge_peak,
    histogram_delta,
    nearest,
    parse_snapshot,
)
from loadgen.sim.metrics import REQUEST_LATENCY_BUCKETS_S, Histogram
from loadgen.stats import nearest_rank

TWO_ENGINES = """\
# HELP vllm:num_preemptions_total Cumulative preemptions.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="m"} 3.0
vllm:num_preemptions_total{engine="1",model_name="m"} 4.0
# HELP vllm:kv_cache_usage_perc KV-cache usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{engine="0",le="0.3",model_name="m"} 1.0
vllm:request_queue_time_seconds_bucket{engine="0",le="+Inf",model_name="m"} 2.0
vllm:request_queue_time_seconds_count{engine="0",model_name="m"} 2.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="m"} 1.5
vllm:request_queue_time_seconds_bucket{engine="1",le="0.3",model_name="m"} 3.0
vllm:request_queue_time_seconds_bucket{engine="1",le="+Inf",model_name="m"} 3.0
vllm:request_queue_time_seconds_count{engine="1",model_name="m"} 3.0
vllm:request_queue_time_seconds_sum{engine="1",model_name="m"} 0.25
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1234.0
"""


def test_label_sets_are_summed_and_other_metrics_skipped() -> None:
    snap = parse_snapshot(TWO_ENGINES, 7)
    assert snap.wall_unix_ns == 7
    assert snap.sums["vllm:num_preemptions_total"] == 7.0
    assert snap.maxima["vllm:kv_cache_usage_perc"] == 0.5
    assert snap.sums["vllm:request_queue_time_seconds_count"] == 5.0
    assert snap.buckets["vllm:request_queue_time_seconds"] == {0.3: 4.0, math.inf: 5.0}
    assert not any(name.startswith("python_") for name in snap.sums)


@pytest.mark.parametrize(
    "body", ["<html><body>502 Bad Gateway</body></html>", '{"detail": "Not Found"}', "a b c"]
)
def test_garbage_is_a_format_error(body: str) -> None:
    with pytest.raises(MetricsFormatError):
        parse_snapshot(body, 0)


def test_prometheus_text_without_vllm_metrics_is_an_empty_snapshot() -> None:
    llamacpp = "# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 10\n"
    assert not parse_snapshot(llamacpp, 0).sums
    assert not parse_snapshot("", 0).sums


def _queue(count: float, total: float, first: float) -> str:
    return (
        f'vllm:request_queue_time_seconds_bucket{{le="0.3"}} {first}\n'
        f'vllm:request_queue_time_seconds_bucket{{le="+Inf"}} {count}\n'
        f"vllm:request_queue_time_seconds_count {count}\n"
        f"vllm:request_queue_time_seconds_sum {total}\n"
        f"vllm:num_preemptions_total {count}\n"
    )


def test_deltas_and_resets() -> None:
    a, b = parse_snapshot(_queue(5, 2.0, 4), 0), parse_snapshot(_queue(9, 3.0, 7), 1)
    hist = histogram_delta(a, b, "vllm:request_queue_time_seconds")
    assert hist is not None and hist.count == 4 and hist.sum == 1.0 and hist.mean == 0.25
    assert hist.buckets == ((0.3, 3.0), (math.inf, 4.0))
    assert counter_delta(a, b, "vllm:num_preemptions_total") == 4
    # the server restarted between the two: no number rather than a wrong one
    assert histogram_delta(b, a, "vllm:request_queue_time_seconds") is None
    assert counter_delta(b, a, "vllm:num_preemptions_total") is None
    restarted = parse_snapshot(_queue(9, 1.0, 9), 2)  # count up, sum down
    assert histogram_delta(a, restarted, "vllm:request_queue_time_seconds") is None
    # absent metrics, and a fallback name
    assert histogram_delta(a, b, "vllm:request_prefill_time_seconds") is None
    assert counter_delta(a, b, "vllm:nope_total", "vllm:num_preemptions_total") == 4


def test_quantile_interpolates_inside_the_bucket_like_histogram_quantile() -> None:
    hist = HistogramDelta(10, 4.0, ((0.1, 2.0), (0.5, 6.0), (1.0, 10.0), (math.inf, 10.0)))
    assert hist.quantile(0.5) == pytest.approx(0.1 + 0.4 * (5 - 2) / 4)
    assert hist.quantile(0.1) == pytest.approx(0.05)  # the first bucket starts at 0
    assert hist.quantile(1.0) == pytest.approx(1.0)
    beyond = HistogramDelta(4, 9.0, ((0.3, 1.0), (0.5, 1.0), (math.inf, 4.0)))
    assert beyond.quantile(0.95) == 0.5  # in +Inf: the largest finite edge
    assert HistogramDelta(0, 0.0, ((0.3, 0.0), (math.inf, 0.0))).quantile(0.5) is None


@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=200), st.sampled_from([50, 95, 99]))
def test_bucketed_quantile_lands_in_the_bucket_of_the_true_one(
    values: list[float], pct: int
) -> None:
    hist = Histogram(REQUEST_LATENCY_BUCKETS_S)
    for v in values:
        hist.observe(v)
    text = "\n".join(hist.lines("vllm:e2e_request_latency_seconds", 'model_name="m"')) + "\n"
    empty = Histogram(REQUEST_LATENCY_BUCKETS_S).lines("vllm:e2e_request_latency_seconds", "")
    start = parse_snapshot("\n".join(empty) + "\n", 0)
    delta = histogram_delta(start, parse_snapshot(text, 1), "vllm:e2e_request_latency_seconds")
    assert delta is not None and delta.count == len(values)
    assert delta.mean == pytest.approx(sum(values) / len(values))
    estimate = delta.quantile(pct / 100)
    true = nearest_rank(sorted(values), pct)
    assert estimate is not None and true is not None
    edges = REQUEST_LATENCY_BUCKETS_S  # the true value's bucket is (below, above]
    below = max((e for e in edges if e < true), default=0.0)
    above = min((e for e in edges if e >= true), default=edges[-1])
    assert below <= estimate <= above


def test_gauge_peak_and_nearest() -> None:
    snaps = [parse_snapshot(f"vllm:kv_cache_usage_perc {v}\n", t) for t, v in enumerate((1, 3, 2))]
    assert gauge_peak(snaps, "vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc") == 3
    assert gauge_peak(snaps, "vllm:gpu_cache_usage_perc") is None
    assert nearest(snaps, 2, within_ns=0) is snaps[2]
    assert nearest(snaps, 10, within_ns=5) is None
