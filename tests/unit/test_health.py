"""Generator health (pure): saturation needs sustained CPU or event-loop lag (a too-short
interval is not judged), lag percentiles are exact, lost workers are named by their worker id,
and records from hosts with unrelated monotonic clocks land in the right level window
(attribution by wall-clock end)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from loadgen.cli.scale_out import master_args
from loadgen.errors import LoadgenError
from loadgen.levels import Level, ResourceSeries, wall_end_unix_ns
from loadgen.records import RequestRecord
from loadgen.run.health import HealthBook, HealthReport, verdict_lines
from loadgen.run.verdicts import check_started, generator_verdict
from loadgen.summary import GeneratorVerdict, RunMeta, RunSummary
from loadgen.swarm.finalize import level_summary

S = 1_000_000_000
MS = 1_000_000


def report(
    worker: str, cpu_pct: float, lag_ms: tuple[float, ...] = (), t_s: int = 0
) -> HealthReport:
    return HealthReport(worker, 1000 * S + t_s * S, cpu_pct, lag_ms, users=3)


def test_saturated_only_when_busy_for_consecutive_intervals() -> None:
    book = HealthBook(cpu_threshold_pct=90.0, sustained_intervals=2)
    for cpu in (95.0, 50.0, 97.0, 20.0):  # busy twice, never in a row
        book.observe(report("a:1", cpu))
    became = [book.observe(report("b:2", cpu)) for cpu in (30.0, 91.0, 90.0, 40.0, 95.0, 99.0)]
    assert became == [False, False, True, False, False, False]  # announced once, when it happens
    assert book.saturated_workers == ["b:2"] and book.saturated
    data = book.verdict({"a:1": 10, "b:2": 12})
    assert data.workers["a:1"].cpu_max_pct == 97.0
    assert data.workers["a:1"].busy_intervals_max == 1
    assert data.workers["b:2"].saturated and not data.workers["a:1"].saturated
    assert data.workers["b:2"].requests == 12


def test_loop_lag_percentiles_are_over_every_sample_of_the_run() -> None:
    book = HealthBook()
    first, second = (1.0, 2.0, 3.0), tuple(float(v) for v in range(100))
    book.observe(report("a:1", 10.0, first))
    book.observe(report("a:1", 10.0, second))
    health = book.verdict({}).workers["a:1"]
    assert health.loop_lag_max_ms == 99.0
    assert health.loop_lag_p99_ms == pytest.approx(np.percentile([*first, *second], 99))
    assert health.requests == 0 and health.intervals == 2


def test_report_round_trips_on_the_wire() -> None:
    sent = report("host:7", 42.5, (0.5, 7.0))
    assert HealthReport.from_dict(json.loads(json.dumps(sent.to_dict()))) == sent
    assert sent.loop_lag_max_ms == 7.0 and HealthReport("w", 0, 0.0).loop_lag_p99_ms is None


def test_lost_workers_are_named_by_worker_id_and_clock_offset_is_the_smallest() -> None:
    book = HealthBook()
    book.hello("node-a", "host-a:11", sent_unix_ns=100 * S, received_unix_ns=100 * S + 30 * MS)
    book.observe(report("host-a:11", 5.0), received_unix_ns=1000 * S + 2 * MS, node_id="node-a")
    assert book.lose("node-a", "stopped sending heartbeats") == "host-a:11"
    assert book.lose("node-b", "sent no final records") == "node-b"  # never said hello
    assert book.lose("node-a", "later reason is ignored") is None
    data = book.verdict({"host-a:11": 5})
    assert data.lost_workers == ["host-a:11", "node-b"]
    assert data.lost_reasons["host-a:11"] == "stopped sending heartbeats"
    assert data.workers["host-a:11"].clock_offset_ms == 2.0
    lines = verdict_lines(data)
    assert lines == [
        "loadgen: lost worker host-a:11: stopped sending heartbeats",
        "loadgen: lost worker node-b: sent no final records",
    ]


def _record(
    worker: str, seq: int, wall_send_ns: int, mono_send_ns: int, e2e_ms: int
) -> RequestRecord:
    first = mono_send_ns + 10 * MS
    last = mono_send_ns + e2e_ms * MS
    return RequestRecord(
        run_id="r",
        api="openai",
        model="m",
        user_class="Chat",
        worker=worker,
        stage_index=0,
        stage_users=2,
        seq=seq,
        wall_send_unix_ns=wall_send_ns,
        t_send_ns=mono_send_ns,
        t_end_ns=last,
        t_first_ns=first,
        t_last_ns=last,
        frame_times_ns=(first, last),
        n_out=2,
        n_out_source="usage",
    )


def test_records_of_two_hosts_are_attributed_by_wall_clock_end() -> None:
    # two hosts whose monotonic clocks started days apart; wall clocks agree (NTP)
    stage = Level(0, 2, 100 * S, ramp_done_unix_ns=100 * S, end_unix_ns=110 * S)
    host_a = [_record("a:1", i, (100 + i) * S, 5 * S + i * S, 500) for i in range(12)]
    host_b = [_record("b:1", i, (99 + i) * S, 900_000 * S + i * S, 200) for i in range(12)]
    level = level_summary(host_a + host_b, stage, [stage], ResourceSeries.of([]))
    assert level is not None
    ends = [wall_end_unix_ns(r) for r in host_a + host_b]
    inside = [e for e in ends if 100 * S <= e < 110 * S]
    assert level.requests == len(inside) == 20  # a: sends 100..109 s; b: 99..108 s
    assert level.e2e_p50_ms == pytest.approx(np.percentile([500] * 10 + [200] * 10, 50))


def _opts(**over: Any) -> dict[str, Any]:
    opts = {
        "master": False,
        "expect_workers": None,
        "processes": None,
        "worker_wait": "120s",
        "master_bind_host": "*",
        "master_port": 5557,
        "allow_saturated": False,
        "saturation_cpu_pct": 90.0,
    }
    return {**opts, **over}


def test_master_flags_are_checked_before_any_load() -> None:
    argv = master_args(_opts(master=True, expect_workers=3, master_port=6000))
    assert argv[argv.index("--expect-workers") + 1] == "3"
    assert argv[argv.index("--master-bind-port") + 1] == "6000"
    assert argv[argv.index("--expect-workers-max-wait") + 1] == "120"
    assert "--master" not in master_args(_opts())
    with pytest.raises(LoadgenError, match="needs --master"):
        master_args(_opts(expect_workers=2))
    with pytest.raises(LoadgenError, match="not both"):
        master_args(_opts(master=True, processes=2))
    with pytest.raises(LoadgenError, match="--run-id"):
        master_args(_opts(run_id="../etc"))
    with pytest.raises(LoadgenError, match="--worker-wait"):
        master_args(_opts(master=True, worker_wait="soon"))


def _summary(generator: GeneratorVerdict, start: int | None = 1) -> RunSummary:
    return RunSummary("r", (), RunMeta("r", start_unix_ns=start), generator=generator)


def test_exit_code_reflects_saturation_unless_allowed() -> None:
    book = HealthBook(sustained_intervals=1)
    book.observe(report("a:1", 99.0))
    saturated = _summary(book.verdict({}))
    assert generator_verdict(saturated, allow_saturated=False).code == 1
    assert generator_verdict(saturated, allow_saturated=True).code == 0
    assert "load generator saturated" in generator_verdict(saturated, False).lines[0]
    assert generator_verdict(_summary(HealthBook().verdict({})), False).code == 0


def test_summary_json_round_trips_the_typed_generator_verdict() -> None:
    book = HealthBook(sustained_intervals=1)
    book.observe(report("a:1", 99.0, (1.0, 5.0)))
    summary = _summary(book.verdict({"a:1": 3}))
    again = RunSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again.generator == summary.generator and again == summary


def test_a_master_whose_workers_never_came_is_bad_input() -> None:
    with pytest.raises(LoadgenError, match="never started: fewer than 2"):
        check_started(None, 2, "120s")  # no summary at all
    with pytest.raises(LoadgenError, match="never started"):
        check_started(_summary(GeneratorVerdict(), start=None), 1, "120s")
    check_started(_summary(GeneratorVerdict()), 1, "120s")


def test_lag_above_the_threshold_for_consecutive_intervals_saturates() -> None:
    book = HealthBook(cpu_threshold_pct=90.0, sustained_intervals=2, lag_threshold_ms=50.0)
    late, prompt = (1.0,) * 98 + (80.0, 90.0), (1.0,) * 100  # interval lag p99 ~80 ms, 1 ms
    for lag in (late, prompt, late):  # late twice, never in a row
        assert not book.observe(report("a:1", 10.0, lag))
    became = [book.observe(report("b:2", 10.0, lag)) for lag in (prompt, late, late, late)]
    assert became == [False, False, True, False]
    assert book.saturated_workers == ["b:2"]
    data = book.verdict({})
    b, a = data.workers["b:2"], data.workers["a:1"]
    assert b.saturated and b.saturated_by == ["lag"] and b.lag_busy_intervals_max == 3
    assert b.busy_intervals_max == 0 and b.interval_lag_p99_max_ms == pytest.approx(80.1, abs=0.1)
    assert not a.saturated and a.lag_busy_intervals_max == 1 and a.saturated_by == []
    assert data.lag_threshold_ms == 50.0
    (line,) = verdict_lines(data)
    assert line.startswith(
        "loadgen: load generator saturated: b:2: event-loop lag p99 above 50 ms for 3 intervals"
        " in a row (up to 80.1 ms); its CPU stayed at or below 10%, so its loop waited"
    )
    assert "not more processes" in line
    assert book.reason("b:2") in line


def test_a_generator_late_while_busy_is_told_to_add_processes() -> None:
    """Lag with the CPU near the threshold: the process worked; more of them help."""
    book = HealthBook(cpu_threshold_pct=90.0, sustained_intervals=2, lag_threshold_ms=50.0)
    for _ in range(2):
        book.observe(report("a:1", 60.0, (1.0,) * 98 + (80.0, 90.0)))
    (line,) = verdict_lines(book.verdict({}))
    assert line.endswith("(up to 80.1 ms); add worker processes (--processes) or hosts")


def test_the_verdict_line_names_the_cpu_signal_with_its_figure() -> None:
    book = HealthBook(cpu_threshold_pct=90.0, sustained_intervals=2, lag_threshold_ms=50.0)
    for cpu in (95.0, 180.0):
        book.observe(report("a:1", cpu, (1.0, 2.0)))
    data = book.verdict({})
    assert data.workers["a:1"].saturated_by == ["cpu"]
    assert verdict_lines(data) == [
        "loadgen: load generator saturated: a:1: CPU at or above 90% for 2 intervals in a row"
        " (up to 180%); add worker processes (--processes) or hosts"
    ]


def test_an_interval_much_shorter_than_the_configured_one_is_not_judged() -> None:
    book = HealthBook(cpu_threshold_pct=90.0, sustained_intervals=2, interval_s=5.0)
    full = replace(report("a:1", 95.0), length_s=5.0)
    last = replace(report("a:1", 507.0, (300.0, 400.0)), length_s=0.004)  # the run's last
    assert not book.observe(full) and not book.observe(last)
    health = book.verdict({}).workers["a:1"]
    assert not health.saturated and health.busy_intervals_max == 1
    assert health.intervals == 1 and health.short_intervals == 1
    assert health.cpu_max_pct == 95.0 and health.interval_lag_p99_max_ms is None
    assert health.loop_lag_max_ms == 400.0  # its lag samples are still measurements
    assert book.observe(replace(full, length_s=2.6))  # over half of --interval: it counts
    unknown = replace(last, length_s=None)  # a report without its length: judged
    assert HealthBook(sustained_intervals=1, interval_s=5.0).observe(unknown)
