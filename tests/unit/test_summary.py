"""Level and run summaries: steady-window throughput, percentiles, summary.json, the table."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from loadgen.errors import LoadgenError
from loadgen.level_summary import LevelSummary, summarize_level, summarize_samples, with_server
from loadgen.levels import Level, samples_in_window
from loadgen.records import OllamaTimings, RequestRecord
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table
from tests.unit.test_timing import MS, record

S = 1000 * MS


def _summarize(
    recs: list[RequestRecord], start_ns: int, end_ns: int, users: int, index: int = 0
) -> LevelSummary:
    """The level [start_ns, end_ns) over records whose wall clock equals their monotonic one."""
    recs = [dataclasses.replace(r, wall_send_unix_ns=r.t_send_ns) for r in recs]
    level = Level(index, users, start_ns, ramp_done_unix_ns=start_ns, end_unix_ns=end_ns)
    summary = summarize_level(samples_in_window(recs, level), level)
    assert summary is not None
    return summary


def _level_records() -> list[RequestRecord]:
    """Requests of 10 tokens each; one finishes during warmup, one after the window, one fails."""
    recs = []
    for i, end_s in enumerate([0.5, 2.0, 3.0, 4.0, 5.0, 11.5]):
        end = int(end_s * S)
        frames = tuple(end - (10 - k) * 10 * MS for k in range(1, 11))
        recs.append(
            record(
                seq=i,
                t_sched_ns=end - 400 * MS,
                t_send_ns=end - 300 * MS,
                t_first_ns=frames[0],
                t_first_output_ns=frames[0],
                t_last_ns=frames[-1],
                frame_times_ns=frames,
                t_end_ns=end,
                n_out=10,
                n_in=100,
            )
        )
    recs.append(
        record(
            seq=9,
            ok=False,
            error_type="http_status",
            http_status=503,
            t_send_ns=6 * S,
            t_end_ns=6 * S + 5 * MS,
            n_out=0,
        )
    )
    return recs


def test_summarize_level_counts_only_the_steady_window() -> None:
    level = _summarize(_level_records(), 1 * S, 11 * S, users=4)
    assert level.window_s == 10.0 and level.users == 4
    assert (level.requests, level.errors) == (5, 1)
    assert level.error_rate == 0.2
    assert level.errors_by_type == {"http_status": 1}
    assert level.req_s == pytest.approx(0.4)
    assert level.output_tok_s == pytest.approx(4.0)  # 4 ok × 10 tokens / 10 s
    assert level.input_tok_s == pytest.approx(40.0)
    assert level.ttft_p50_ms == pytest.approx(210.0)  # 300 ms before end − 9 gaps of 10 ms
    assert level.ttft_sched_p95_ms == pytest.approx(310.0)
    assert level.itl_p50_ms == pytest.approx(10.0) and level.itl_p99_ms == pytest.approx(10.0)
    assert level.tpot_p50_ms == pytest.approx(10.0)
    assert level.e2e_p95_ms == pytest.approx(300.0)
    assert level.queue_p50_ms is None
    assert level.n_out_sources == {"usage": 4}
    assert (level.window_start_unix_ns, level.window_end_unix_ns) == (1 * S, 11 * S)


def test_empty_level_and_bad_window() -> None:
    level = summarize_samples(LevelSamples(), window_s=5.0, users=1)
    assert (level.requests, level.error_rate, level.ttft_p95_ms, level.req_s) == (0, 0.0, None, 0.0)
    with pytest.raises(LoadgenError, match="empty measurement window"):
        summarize_samples(LevelSamples(), window_s=0.0, users=1)
    cut_short = Level(0, 1, 5, ramp_done_unix_ns=5, end_unix_ns=5)
    assert summarize_level(LevelSamples(), cut_short) is None  # no window: no summary


def test_ollama_breakdown_medians() -> None:
    timings = OllamaTimings(100 * MS, 0, 10, 20 * MS, 4, 60 * MS)
    recs = [record(api="ollama", ollama=timings, t_send_ns=0, t_end_ns=150 * MS)]
    level = _summarize(recs, 0, S, users=1)
    assert (level.queue_p50_ms, level.prefill_p50_ms, level.decode_p50_ms) == (20.0, 20.0, 60.0)
    assert level.network_client_p50_ms == 50.0


def _run() -> RunSummary:
    recs = _level_records()
    levels = (
        _summarize(recs, 1 * S, 11 * S, users=4, index=0),
        _summarize(recs, 11 * S, 21 * S, users=8, index=1),
    )
    return RunSummary(run_id="run-1", levels=levels, meta=RunMeta("run-1", engine="sim"))


def test_run_summary_json_round_trip_and_totals() -> None:
    run = _run()
    data = json.loads(json.dumps(run.to_dict()))
    assert data["totals"]["requests"] == 6 and data["totals"]["errors"] == 1
    assert data["totals"]["output_tokens"] == 50
    assert data["levels"][1]["users"] == 8
    assert data["meta"]["engine"] == data["engine"] == "sim"
    assert RunSummary.from_dict(data) == run


def test_format_table() -> None:
    lines = format_table(_run()).splitlines()
    assert len(lines) == 3
    header = lines[0].split("  ")
    for column in ("users", "req/s", "output tok/s", "TTFT p99 ms", "ITL p50 ms", "E2E p95 ms"):
        assert any(column in cell for cell in header)
    assert lines[1].split()[:6] == ["4", "5", "1", "20.0", "0.40", "4.0"]  # error % beside
    assert lines[2].split()[:6] == ["8", "1", "0", "0.0", "0.10", "1.0"]
    assert len({len(line) for line in lines}) == 1  # aligned


def test_format_table_shows_the_ttft_breakdown_only_with_server_data() -> None:
    run = _run()
    assert "queue ms" not in format_table(run)
    server = {"server_ttft_mean_ms": 250.0, "queue_mean_ms": 180.0, "prefill_mean_ms": 60.5}
    levels = (with_server(run.levels[0], server), run.levels[1])
    lines = format_table(dataclasses.replace(run, levels=levels)).splitlines()
    ends = {m.group(): m.end() for m in re.finditer(r"\S+(?: \S+)*", lines[0])}  # right-aligned
    cells = {name: lines[1][:end].split()[-1] for name, end in ends.items()}
    assert cells["server TTFT ms"] == "250.0" and cells["queue ms"] == "180.0"
    assert cells["prefill ms"] == "60.5"
    assert cells["client ms"] == f"{run.levels[0].ttft_mean_ms - 250.0:.1f}"  # type: ignore[operator]
    assert lines[2].split()[-4:] == ["-", "-", "-", "-"]  # the other level: no server data
    assert lines[3].startswith("TTFT breakdown, means:")
