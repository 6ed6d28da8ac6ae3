"""Run by test_llm_stats.py in its own interpreter: loadgen's LLM stats beside Locust's, what
one request logs, a worker's report over Locust's wire format, the tables and CSV rows."""

from __future__ import annotations

import pytest
from locust import stats as locust_stats
from locust.rpc.protocol import Message
from locust.stats import RequestStats

from loadgen import timing
from loadgen.records import RequestRecord
from loadgen.swarm.llm_stats import (
    LlmStats,
    csv_header,
    csv_rows,
    log_many,
    summary_lines,
    table_rows,
)
from tests.unit.test_timing import record

MS = 1_000_000


def _record(seq: int, ttft_ms: int, gaps_ms: list[int], ok: bool = True) -> RequestRecord:
    t_send = 1_000 * MS
    frames = [t_send + ttft_ms * MS]
    for gap in gaps_ms:
        frames.append(frames[-1] + gap * MS)
    return record(
        seq=seq,
        t_send_ns=t_send,
        t_end_ns=frames[-1] + MS,
        t_first_ns=frames[0] if ok else None,
        t_first_output_ns=frames[0] if ok else None,
        t_last_ns=frames[-1] if ok else None,
        frame_times_ns=tuple(frames) if ok else (),
        n_out=len(frames) if ok else 0,
        ok=ok,
        error_type=None if ok else "http_status",
    )


def _counts(llm: LlmStats) -> dict[str, int]:
    return {row["name"]: row["count"] for row in table_rows(llm)}


def test_a_request_logs_its_ttft_its_tpot_and_every_token_gap() -> None:
    llm = LlmStats()
    llm.add(_record(0, 200, [10, 20, 30]))
    llm.add(_record(1, 400, []))  # one token: no ITL, no TPOT
    llm.add(_record(2, 300, [10], ok=False))  # failed: nothing
    assert _counts(llm) == {"TTFT": 2, "ITL": 3, "TPOT": 1}
    rows = {row["name"]: row for row in table_rows(llm)}
    assert rows["TTFT"]["min_ms"] == 200 and rows["TTFT"]["max_ms"] == 400
    assert rows["ITL"]["avg_ms"] == 20 and rows["TPOT"]["avg_ms"] == 20
    assert rows["ITL"]["p50_ms"] == 20 and rows["ITL"]["p99_ms"] == 30
    assert llm.stats.total.num_requests == 0  # no "Aggregated" mixing of the three


def test_workers_reports_merge_on_the_master_over_locusts_wire_format() -> None:
    workers = [LlmStats(), LlmStats()]
    for seq in range(10):
        workers[seq % 2].add(_record(seq, 100 + 10 * seq, [5, 15]))
    master, alone = LlmStats(), LlmStats()
    for seq in range(10):
        alone.add(_record(seq, 100 + 10 * seq, [5, 15]))
    for worker in workers:
        wire = Message("stats", {"llm": worker.report()}, "w").serialize()
        master.merge(Message.unserialize(wire).data["llm"])
        assert worker.report() == []  # a report carries what is new since the last one
    assert _counts(master) == {"TTFT": 10, "ITL": 20, "TPOT": 10}
    assert table_rows(master) == table_rows(alone)


def test_clear_and_reset_forget_everything() -> None:
    llm = LlmStats()
    llm.add(_record(0, 100, [5]))
    llm.reset()
    assert _counts(llm) == {"TTFT": 0, "ITL": 0, "TPOT": 0}
    llm.add(_record(1, 100, [5]))
    llm.clear()
    assert _counts(llm) == {"TTFT": 0, "ITL": 0, "TPOT": 0}


def test_csv_rows_and_the_end_of_run_table() -> None:
    llm = LlmStats()
    assert [row[:3] for row in csv_rows(llm)] == [["LLM", n, 0] for n in ("TTFT", "ITL", "TPOT")]
    llm.add(_record(0, 250, [12, 12]))
    header, rows = csv_header(), csv_rows(llm)
    assert all(len(row) == len(header) for row in rows)
    ttft = dict(zip(header, rows[0], strict=True))
    assert ttft["Name"] == "TTFT" and ttft["Count"] == 1 and ttft["Median (ms)"] == 250
    assert ttft["Min (ms)"] == ttft["Max (ms)"] == 250 and ttft["99%"] == 250
    lines = summary_lines(llm)
    assert lines[0].startswith("LLM time percentiles")
    assert [line.split()[1] for line in lines[3:6]] == ["ITL", "TPOT", "TTFT"]


def _bucket_10(response_time: float) -> int:
    return int(round(response_time, -1))


@pytest.mark.parametrize("bucket", [None, _bucket_10])
def test_log_many_is_one_log_per_value(monkeypatch: pytest.MonkeyPatch, bucket: object) -> None:
    """The ITL entry's bulk logging leaves exactly what one `log` per gap leaves, with Locust's
    own bucketing or a replaced one, and below and above 100 ms."""
    if bucket is not None:
        monkeypatch.setattr(locust_stats, "bucket_response_time", bucket)
    batches = [[0.0, 0.4, 2.5, 3.5, 99.6], [14.2, 150.0, 1234.5, 56789.0], [], [7.0]]
    one, bulk = RequestStats(False).get("ITL", "LLM"), RequestStats(False).get("ITL", "LLM")
    for values in batches:
        for value in values:
            one.log(value, 0)
        log_many(bulk, values)
    for name in ("num_requests", "total_response_time", "min_response_time", "max_response_time"):
        assert getattr(bulk, name) == pytest.approx(getattr(one, name)), name
    assert dict(bulk.response_times) == dict(one.response_times)
    assert sum(bulk.num_reqs_per_sec.values()) == sum(one.num_reqs_per_sec.values()) == 10


def test_a_request_s_gaps_are_logged_as_one_log_per_itl_gap() -> None:
    """LlmStats takes a request's gaps from its frame times at once: what one `log` per
    timing.itl_ms gap leaves, ns-exact gaps (x.5 ms ties, 0 for a shared read) included."""
    frames = (10**12, 10**12 + 2_500_000, 10**12 + 2_500_000, 10**12 + 4_499_999, 10**12 + 8 * MS)
    req = record(
        t_send_ns=frames[0] - MS,
        t_end_ns=frames[-1],
        t_first_ns=frames[0],
        t_first_output_ns=frames[0],
        t_last_ns=frames[-1],
        frame_times_ns=frames,
        n_out=len(frames),
    )
    llm, one = LlmStats(), RequestStats(False).get("ITL", "LLM")
    llm.add(req)
    for gap_ms in timing.itl_ms(req):
        one.log(gap_ms, 0)
    bulk = llm.entry("ITL")
    assert dict(bulk.response_times) == dict(one.response_times) == {2: 2, 0: 1, 4: 1}
    assert bulk.num_requests == one.num_requests == 4
    assert bulk.total_response_time == pytest.approx(one.total_response_time)
    assert (bulk.min_response_time, bulk.max_response_time) == (0.0, 3.500001)
