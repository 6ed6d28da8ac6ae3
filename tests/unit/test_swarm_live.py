"""Live progress numbers, open-loop arrivals, results-file helpers and the error merge: pure."""

from __future__ import annotations

import dataclasses
import itertools
import statistics

import pytest

from loadgen.levels import Level, ResourceSeries
from loadgen.records import RequestRecord
from loadgen.results import make_run_id, redact_argv
from loadgen.summary import GeneratorVerdict
from loadgen.swarm.arrivals import PoissonArrivals
from loadgen.swarm.context import RunContext
from loadgen.swarm.exchange import empty_result, failed, status_detail
from loadgen.swarm.finalize import level_summary, run_meta, run_summary
from loadgen.swarm.progress import LiveWindow, format_progress, nearest_rank, progress_mode

MS = 1_000_000
S = 1_000_000_000


def _record(
    seq: int, wall_send_ns: int, ttft_ms: float, gaps_ms: list[float], ok: bool = True
) -> RequestRecord:
    t_send = 5 * S + seq * S
    first = t_send + int(ttft_ms * MS)
    frames = [first]
    for gap in gaps_ms:
        frames.append(frames[-1] + int(gap * MS))
    return RequestRecord(
        run_id="r",
        api="openai",
        model="m",
        user_class="Chat",
        worker="w",
        stage_index=0,
        stage_users=1,
        seq=seq,
        wall_send_unix_ns=wall_send_ns,
        t_send_ns=t_send,
        t_end_ns=frames[-1] + MS,
        t_first_ns=first if ok else None,
        t_last_ns=frames[-1] if ok else None,
        frame_times_ns=tuple(frames) if ok else (),
        n_out=len(frames) if ok else 0,
        n_out_source="usage",
        ok=ok,
        error_type=None if ok else "http_status",
    )


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 0.5) == 50 and nearest_rank(values, 0.95) == 95
    assert nearest_rank([], 0.5) is None


def test_live_window_counts_only_its_span() -> None:
    window = LiveWindow(span_s=10)
    window.add(_record(0, 0, ttft_ms=500, gaps_ms=[10, 10]))  # ends at ~0.52 s: drops out
    for i in range(1, 11):
        window.add(_record(i, 20 * S + i * S // 10, ttft_ms=float(i), gaps_ms=[20, 40]))
    window.add(_record(99, 21 * S, ttft_ms=1, gaps_ms=[], ok=False))
    snap = window.snapshot(25 * S)
    assert snap.requests == 11 and snap.errors == 1
    assert snap.total_requests == 12 and snap.total_errors == 1
    assert snap.ttft_ms["p50"] == 5.0 and snap.ttft_ms["p95"] == 10.0
    assert snap.itl_ms["p50"] == 20.0 and snap.itl_ms["p99"] == 40.0
    assert snap.tpot_ms["p50"] == 30.0  # (20 + 40) / (3 - 1)
    assert snap.output_tok_per_s == 30 / 10  # 10 ok requests of 3 tokens over 10 s


def test_progress_line_and_modes() -> None:
    window = LiveWindow(span_s=10)
    window.add(_record(1, 0, ttft_ms=123, gaps_ms=[5]))
    line = format_progress(7, window.snapshot(1 * S), elapsed_s=35, time_left_s=25)
    for part in ("users 7", "req/s", "out tok/s", "TTFT p95 123 ms", "errors 0/1", "25 s left"):
        assert part in line
    assert progress_mode("auto", is_tty=True) == "live"
    assert progress_mode("auto", is_tty=False) == "lines"
    assert progress_mode("off", is_tty=True) == "off"


def test_poisson_arrivals_are_reproducible_and_at_the_rate() -> None:
    a, b = PoissonArrivals(20.0, seed=3), PoissonArrivals(20.0, seed=3)
    times_a = [a.take(0) for _ in range(4000)]
    assert times_a == [b.take(0) for _ in range(4000)]
    gaps_s = [(y - x) / S for x, y in itertools.pairwise(times_a)]
    assert statistics.mean(gaps_s) == pytest.approx(1 / 20, rel=0.1)
    assert times_a[0] == 0 and all(g >= 0 for g in gaps_s)


def test_run_id_and_redaction() -> None:
    assert make_run_id(0, "ab12") == "19700101-000000-ab12"
    argv = ["swarm", "--api-key", "s3cret", "--api-key=s3cret", "--influx-token", "s3cret"]
    argv += ["--influx-password=s3cret", "--model", "m"]
    assert "s3cret" not in " ".join(redact_argv(argv))
    assert redact_argv(argv)[-2:] == ["--model", "m"]


def test_transport_error_beats_missing_end_marker_but_not_a_parsed_error() -> None:
    ok = empty_result()
    truncated = dataclasses.replace(ok, ok=False, error_type="truncated", error_detail="no end")
    malformed = dataclasses.replace(ok, ok=False, error_type="malformed", error_detail="bad")
    assert failed(truncated, "stall", "no data for 1 s").error_type == "stall"
    assert failed(malformed, "stall", "no data").error_type == "malformed"
    assert failed(ok, "connect", "refused").error_detail == "refused"
    assert status_detail(503, b"busy") == "HTTP 503: busy"


def test_an_error_answer_is_recorded_with_the_servers_own_message() -> None:
    """vLLM's, OpenAI's and Ollama's JSON error bodies give their message, not the raw JSON."""
    vllm = (
        b'{"object":"error","message":"This model\'s maximum context length is 2048 tokens.",'
        b'"type":"BadRequestError","param":null,"code":400}'
    )
    openai = b'{"error":{"message":"Rate limit reached","type":"requests","code":"429"}}'
    ollama = b'{"error":"server busy, please try again.  maximum pending requests exceeded"}'
    assert (
        status_detail(400, vllm) == "HTTP 400: This model's maximum context length is 2048 tokens."
    )
    assert status_detail(429, openai) == "HTTP 429: Rate limit reached"
    assert status_detail(503, ollama).startswith("HTTP 503: server busy, please try again.")
    assert (
        status_detail(502, b"<html>\n<b>Bad   gateway</b></html>")
        == "HTTP 502: <html> <b>Bad gateway</b></html>"
    )
    assert status_detail(500, b"") == "HTTP 500: (empty body)"


def test_summary_json_carries_each_levels_window() -> None:
    context = RunContext("run-1", "http://127.0.0.1:9", "sim", "m", "openai", "Chat", "/tmp/r")
    offset_ns = 5 * S - 100 * S  # wall 100 s <-> perf_counter 5 s
    stages = [
        Level(0, 1, 100 * S, ramp_done_unix_ns=100 * S, end_unix_ns=110 * S, warmup_s=1),
        Level(1, 3, 110 * S, ramp_done_unix_ns=None, end_unix_ns=111 * S),  # cut short
    ]
    # perf_counter ends: 5 s + seq (+21 ms); records 1..9 end inside level 0's window [6 s, 15 s)
    # (wall [101 s, 110 s)): attributed by wall-clock end = wall_send + (t_end − t_send)
    records = [_record(i, 5 * S + i * S - offset_ns, ttft_ms=10, gaps_ms=[5, 5]) for i in range(12)]
    series = ResourceSeries.of([])
    levels = {lv.index: s for lv in stages if (s := level_summary(records, lv, stages, series))}
    meta = run_meta(context, ["loadgen"], {}, 1, 2, {})
    summary = run_summary(meta, stages, levels, len(records), GeneratorVerdict())
    data = summary.to_dict()
    (level,) = summary.levels
    assert level.users == 1 and level.window_s == 9.0 and level.requests == 9
    (row,) = data["levels"]
    assert (row["window_start_unix_ns"], row["window_end_unix_ns"]) == (101 * S, 110 * S)
    assert [s["index"] for s in data["stages"]] == [0, 1]
    assert data["meta"]["engine"] == "sim" and data["requests_recorded"] == 12
