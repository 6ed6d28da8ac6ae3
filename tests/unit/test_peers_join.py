"""bench/peers.py's pure side on constructed input: the join to truth, the load window, CPU over
it, and the readers of each client's own output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.peers_clients import read_guidellm, read_loadgen, read_vllm
from bench.peers_join import (
    Seen,
    cpu_at,
    errors_ms,
    figures,
    join_by_id,
    join_by_order,
    load_window,
    p50_p99,
    tree_total,
)
from loadgen.swarm.exchange import request_id

MS = 1_000_000


def _row(rid: str, arrival_ms: int, first_ms: int | None, end_ms: int, tokens: int = 10) -> dict:
    return {
        "request_id": rid,
        "arrival_mono_ns": arrival_ms * MS,
        "first_token_mono_ns": None if first_ms is None else first_ms * MS,
        "end_mono_ns": end_ms * MS,
        "tokens_out": tokens,
    }


def test_cpu_is_interpolated_between_samples_and_clamped_outside() -> None:
    samples = [(0, 1.0), (100, 2.0), (300, 2.5)]
    assert cpu_at(samples, 50) == pytest.approx(1.5)
    assert cpu_at(samples, 200) == pytest.approx(2.25)
    assert cpu_at(samples, -5) == 1.0 and cpu_at(samples, 999) == 2.5
    with pytest.raises(ValueError):
        cpu_at([], 0)


def test_a_tree_keeps_the_cpu_of_children_that_exited() -> None:
    last: dict[int, float] = {}
    assert tree_total(last, [(1, 0.5), (2, 0.25)]) == 0.75
    assert tree_total(last, [(1, 0.75)]) == 1.0  # pid 2 has exited: its 0.25 s stay
    assert tree_total(last, [(1, 0.5)]) == 1.0  # a reading never goes back


def test_join_by_id_drops_unknown_and_ambiguous_ids() -> None:
    rows = [_row("a", 0, 5, 9), _row("b", 1, 6, 9), _row("b", 2, 7, 9)]
    seen = [Seen("a", 0, 6 * MS), Seen("b", 0, 7 * MS), Seen("zz", 0, 1), Seen(None, 0, 1)]
    pairs = join_by_id(seen, rows)
    assert [(s.request_id, r["request_id"]) for s, r in pairs] == [("a", "a")]


def test_join_by_order_pairs_sends_with_arrivals_only_when_counts_agree() -> None:
    rows = [_row("x", 20, 25, 30), _row("y", 10, 15, 30)]
    seen = [Seen(None, 19 * MS, 26 * MS), Seen(None, 9 * MS, 16 * MS)]
    pairs = join_by_order(seen, rows)
    assert [(s.send_ns, r["request_id"]) for s, r in pairs] == [(9 * MS, "y"), (19 * MS, "x")]
    assert join_by_order(seen[:1], rows) == []


def test_ttft_error_and_read_lag_against_truth() -> None:
    # sent at 0, arrived at 1, first token written at 11 and read at 13: TTFT 13 vs 10
    pairs = [
        (Seen("a", 0, 13 * MS), _row("a", 1, 11, 20)),
        (Seen("b", 0, None), _row("b", 1, 4, 5)),
    ]
    ttft_err, read_lag = errors_ms(pairs)
    assert ttft_err == [pytest.approx(3.0)] and read_lag == [pytest.approx(2.0)]
    assert p50_p99([]) is None and p50_p99([3.0, 1.0, 2.0]) == (2.0, 3.0)


def test_figures_count_cpu_and_tokens_over_the_joined_window() -> None:
    rows = [_row("a", 100, 110, 200, 50), _row("b", 150, 160, 400, 70), _row("late", 900, 910, 950)]
    seen = [Seen("a", 99 * MS, 111 * MS), Seen("b", 149 * MS, 161 * MS)]
    samples = [(0, 0.0), (1000 * MS, 1.0)]  # one CPU second per second
    f = figures(rows, join_by_id(seen, rows), samples)
    assert load_window(rows[:2]) == (100 * MS, 400 * MS)
    assert (f.requests, f.joined, f.tokens) == (2, 2, 120)
    assert f.window_s == pytest.approx(0.3) and f.cpu_s == pytest.approx(0.3)
    assert f.cpu_ms_per_1k_tokens == pytest.approx(2500.0)
    assert f.ttft_err_ms == (pytest.approx(2.0), pytest.approx(2.0))
    assert f.read_lag_ms == (pytest.approx(1.0), pytest.approx(1.0))


def test_each_client_output_is_read_into_the_same_records(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    record = {"worker": "w1", "seq": 3, "t_send_ns": 5, "t_first_ns": 9}
    (tmp_path / "results" / "requests.jsonl").write_text(json.dumps(record) + "\n")
    assert read_loadgen(tmp_path) == [Seen(request_id("w1", 3), 5, 9)]
    vllm = {"start_times": [2.0, 3.0], "ttfts": [0.5, 0.0], "errors": ["", "boom"]}
    (tmp_path / "vllm.json").write_text(json.dumps(vllm))
    assert read_vllm(tmp_path) == [
        Seen("peers-0", 2 * 10**9, 2_500_000_000),
        Seen("peers-1", 3 * 10**9, None),
    ]
    timings = {"request_start": 100.0, "first_token_iteration": 100.25}
    request = {"response_id": "chatcmpl-sim-7", "info": {"timings": timings}}
    report = {
        "benchmarks": [{"requests": {"successful": [request], "errored": [], "incomplete": []}}]
    }
    (tmp_path / "guidellm.json").write_text(json.dumps(report))
    offset = 40 * 10**9  # wall - monotonic
    assert read_guidellm(tmp_path, offset) == [Seen("sim-7", 60 * 10**9, 60_250_000_000)]


def test_scenarios_name_a_profile_streams_and_maybe_a_rate() -> None:
    from bench.peers import Scenario, parse_scenarios

    assert parse_scenarios("fast:16, paced:64,paced:1000:20", 71.0) == [
        Scenario("fast", 16, None),
        Scenario("paced", 64, 71.0),
        Scenario("paced", 1000, 20.0),
    ]
    assert Scenario("paced", 1000, 20.0).label == "paced@20tok/s:1000"
    for bad in ("", "fast", "fast:0", "fast:x", ":4", "paced:4:nan", "paced:4:0", "a:1:2:3"):
        assert parse_scenarios(bad, 71.0) is None, bad


def test_a_simulator_later_than_one_interval_fell_behind() -> None:
    from bench.peers import behind

    assert behind(15.0, 71.0) and not behind(14.0, 71.0)  # 14.1 ms per token at 71 tok/s
    assert not behind(None, 71.0) and not behind(500.0, None)  # no pace to keep (fast)
