"""SLO expressions: parsing, one-line errors, breaches named by level."""

from __future__ import annotations

import pytest

from loadgen.errors import LoadgenError
from loadgen.level_summary import LevelSummary, summarize_samples
from loadgen.slo import Slo, evaluate, parse_slo, parse_slos
from loadgen.stats import LevelSamples


def _level(stage: int, users: int, **values: float | None) -> LevelSummary:
    import dataclasses

    base = summarize_samples(LevelSamples(), 10.0, users, stage)
    return dataclasses.replace(base, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("ttft_p95_ms<=500", Slo("ttft_p95_ms", "<=", 500.0)),
        ("error_rate <= 0.01", Slo("error_rate", "<=", 0.01)),
        ("output_tok_s>=100", Slo("output_tok_s", ">=", 100.0)),
        ("e2e_p95_ms<2000", Slo("e2e_p95_ms", "<", 2000.0)),
        ("errors==0", Slo("errors", "==", 0.0)),
        ("req_s>1e-3", Slo("req_s", ">", 0.001)),
    ],
)
def test_parse(expr: str, expected: Slo) -> None:
    assert parse_slo(expr) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("ttft_p95<=500", "unknown --slo metric 'ttft_p95'; valid: requests, errors"),
        ("ttft_p95_ms=>500", "expected METRIC<=NUMBER"),
        ("ttft_p95_ms<=fast", "'fast' is not a number"),
        ("", "expected METRIC<=NUMBER"),
        ("errors_by_type<=1", "unknown --slo metric"),
    ],
)
def test_parse_errors_are_one_line(expr: str, message: str) -> None:
    with pytest.raises(LoadgenError, match=message) as info:
        parse_slo(expr)
    assert "\n" not in str(info.value)


def test_parse_slos_accepts_repeats_and_commas() -> None:
    slos = parse_slos(["ttft_p95_ms<=500,error_rate<=0.01", "output_tok_s>=100"])
    assert [s.metric for s in slos] == ["ttft_p95_ms", "error_rate", "output_tok_s"]


def test_evaluate_names_every_breaching_level() -> None:
    levels = [
        _level(0, 1, ttft_p95_ms=45.0, output_tok_s=62.0, error_rate=0.0),
        _level(1, 10, ttft_p95_ms=480.0, output_tok_s=148.0, error_rate=0.0),
        _level(2, 50, ttft_p95_ms=3200.0, output_tok_s=155.0, error_rate=0.02),
    ]
    slos = parse_slos(["ttft_p95_ms<=500", "error_rate<=0.01"])
    breaches = evaluate(slos, levels)
    assert breaches == [
        "SLO ttft_p95_ms<=500 breached at level 2 (50 users): ttft_p95_ms = 3200",
        "SLO error_rate<=0.01 breached at level 2 (50 users): error_rate = 0.02",
    ]
    assert evaluate(parse_slos(["output_tok_s>=100"]), levels) == [
        "SLO output_tok_s>=100 breached at level 0 (1 users): output_tok_s = 62"
    ]
    assert evaluate(slos, levels[:2]) == []


def test_unmeasured_metric_is_a_breach() -> None:
    breaches = evaluate([parse_slo("ttft_sched_p95_ms<=100")], [_level(0, 5)])
    assert breaches == [
        "SLO ttft_sched_p95_ms<=100 breached at level 0 (5 users): "
        "ttft_sched_p95_ms was not measured"
    ]


def test_server_percentiles_read_vllm_buckets_where_ollama_gave_none() -> None:
    ollama = _level(0, 4, queue_p95_ms=250.0, queue_p95_bucketed_ms=None)
    vllm = _level(1, 8, queue_p95_ms=None, queue_p95_bucketed_ms=640.0)
    unknown = _level(2, 16)
    slo = parse_slo("queue_p95_ms<=300")
    assert evaluate([slo], [ollama, vllm, unknown]) == [
        "SLO queue_p95_ms<=300 breached at level 1 (8 users): queue_p95_bucketed_ms = 640",
        "SLO queue_p95_ms<=300 breached at level 2 (16 users): queue_p95_ms was not measured",
    ]
    assert evaluate([parse_slo("server_ttft_p95_bucketed_ms<=1")], [vllm]) == [
        "SLO server_ttft_p95_bucketed_ms<=1 breached at level 1 (8 users): "
        "server_ttft_p95_bucketed_ms was not measured"
    ]
    assert evaluate([parse_slo("queue_mean_ms<=5")], [_level(0, 1, queue_mean_ms=4.5)]) == []
