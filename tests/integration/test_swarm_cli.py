"""`loadgen swarm` end to end: real simulator processes, real Locust child processes.

Each run lasts a few seconds; assertions are on what the run wrote, never on how fast it ran.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadgen.swarm.exchange import request_id
from tests.fixtures.net import free_port, loadgen_cmd, running, stop
from tests.fixtures.swarm import SwarmRun, run_swarm

SECRET = "sk-test-never-stored-42"
# Client TTFT vs the simulator's ground truth, both CLOCK_MONOTONIC on this host. The sim stamps
# first_token after its write returns, the client after it parsed the frame: on loopback they
# differ by scheduling noise only (the sim and Locust share 2 busy cores), so |Δ| median ≤ 5 ms
# and p99 ≤ 25 ms; a client stamping on headers, or batching frames, would miss by far more.
TRUTH_MEDIAN_MS, TRUTH_P99_MS = 5.0, 25.0
CUT_OFF = "cut off: the run ended"  # a request in flight when the run stopped


def assert_ttft_matches_truth(records: list[dict[str, Any]], truth_path: Path) -> None:
    truth = {}
    for line in truth_path.read_text().splitlines():
        row = json.loads(line)
        truth[row["request_id"]] = row
    deltas_ms = sorted(
        abs(r["t_first_ns"] - truth[request_id(r["worker"], r["seq"])]["first_token_mono_ns"]) / 1e6
        for r in records
        if r["ok"]
    )
    assert len(deltas_ms) >= 20
    assert statistics.median(deltas_ms) <= TRUTH_MEDIAN_MS
    assert deltas_ms[int(0.99 * (len(deltas_ms) - 1))] <= TRUTH_P99_MS


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `loadgen sim --profile fast` shared by the runs that pass --host."""
    port = free_port()
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    url = f"http://127.0.0.1:{port}"
    cmd = loadgen_cmd("sim", "--profile", "fast", "--port", str(port))
    with running(cmd, ready_url=url + "/v1/models", log=log):
        yield url


# Runs whose tests check only their own records and summary, which hold at any load: made two
# at a time by `runs` (each with its own simulator, or against the module's).
FAULTS = "http500=0.15,stall=0.1:3s,malformed=0.1,cut=0.1"
RUNS: dict[str, tuple[str, ...]] = {
    "failures": (
        *("--sim", "fast", "--sim-faults", FAULTS, "--stall-timeout", "1s"),
        *("--users", "4", "--run-time", "4s", "--output-tokens", "16"),
        *("--max-error-rate", "1"),  # the failures are the point: no error gate
    ),
    "two-processes": (
        *("--processes", "2", "--users", "2", "--run-time", "3s"),
        *("--output-tokens", "8"),
    ),
    "multi-turn": (
        *("--api", "ollama", "--turns", "2", "--think-time", "0.1s"),
        *("--users", "2", "--run-time", "3s", "--output-tokens", "8", "--input-tokens", "20"),
    ),
    "open-loop": (
        *("--rate", "15", "--max-concurrency", "4", "--run-time", "3s"),
        *("--output-tokens", "8"),
    ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> dict[str, SwarmRun]:
    """Every run of RUNS, the two longest first; one without --sim targets the module's."""
    tmp = tmp_path_factory.mktemp("runs")

    def run(name: str) -> SwarmRun:
        host = () if "--sim" in RUNS[name] else ("--host", sim_url)
        return run_swarm(tmp / name, *host, *RUNS[name])

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(RUNS, pool.map(run, RUNS), strict=True))


def test_steps_on_the_embedded_simulator(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    run = run_swarm(
        tmp_path / "r",
        *("--sim", "fast", "--sim-truth", str(truth)),
        *("--users", "1,3", "--step-time", "3s", "--warmup", "0.5s"),
        *("--output-tokens", "16", "--api-key", SECRET, "--slo", "error_rate<=0.5"),
    )
    assert run.returncode == 0, run.stderr
    levels = run.summary().levels
    assert [lv.users for lv in levels] == [1, 3]
    for level in levels:
        assert level.requests > 0 and level.output_tok_s > 0
        assert level.ttft_p50_ms is not None and level.itl_p99_ms is not None
        start, end = level.window_start_unix_ns, level.window_end_unix_ns
        assert start is not None and end is not None and end > start
    records = run.records()
    assert {r["stage_index"] for r in records} == {0, 1}
    assert {r["n_out_source"] for r in records if r["ok"]} == {"usage"}
    meta = run.meta()
    assert meta["target_version"] and meta["model"] == "sim-fast" and meta["api"] == "openai"
    assert meta["engine"] == "sim" and meta["start_unix_ns"] < meta["end_unix_ns"]
    assert "***" in meta["argv"]
    assert (run.results / "locust_stats.csv").is_file()
    for path in run.results.iterdir():
        assert SECRET not in path.read_text(errors="replace"), path.name
    assert SECRET not in run.stdout + run.stderr
    assert "TTFT p95 ms" in run.stdout  # the per-level table
    assert_ttft_matches_truth(records, truth)


def test_ollama_multi_turn_carries_history(runs: dict[str, SwarmRun]) -> None:
    run = runs["multi-turn"]
    assert run.returncode == 0, run.stderr
    records = [r for r in run.records() if r["ok"]]
    assert {r["api"] for r in records} == {"ollama"}
    assert {r["turn"] for r in records} == {0, 1}
    assert {r["n_out_source"] for r in records} == {"eval_count"}
    assert all(r["ollama"]["eval_count"] == r["n_out"] for r in records)
    first = [r["n_in"] for r in records if r["turn"] == 0]
    second = [r["n_in"] for r in records if r["turn"] == 1]
    assert min(second) > max(first)  # turn 2 sends turn 1 and its reply again
    assert run.summary().levels[0].decode_p50_ms is not None  # Ollama's server timings


def test_open_loop_records_scheduled_send_times(runs: dict[str, SwarmRun]) -> None:
    run = runs["open-loop"]
    assert run.returncode == 0, run.stderr
    records = run.records()
    assert records and all(r["t_sched_ns"] is not None for r in records)
    assert all(r["t_sched_ns"] <= r["t_send_ns"] for r in records)
    level = run.summary().levels[0]
    assert level.users == 4
    assert level.ttft_sched_p95_ms is not None and level.ttft_p50_ms is not None
    assert level.ttft_sched_p95_ms >= level.ttft_p50_ms


def test_slo_gate_exit_codes_and_the_openai_sdk_client(tmp_path: Path, sim_url: str) -> None:
    common = ("--host", sim_url, "--users", "2", "--run-time", "2s", "--output-tokens", "8")
    with ThreadPoolExecutor(2) as pool:  # two runs side by side against the module's simulator
        met_run = pool.submit(
            run_swarm,
            tmp_path / "ok",
            *common,
            *("--client", "openai", "--slo", "error_rate<=0.01,output_tok_s>=1"),
        )
        breached_run = pool.submit(
            run_swarm, tmp_path / "bad", *common, "--slo", "ttft_p95_ms<=0.0001"
        )
        met, breached = met_run.result(), breached_run.result()
    assert met.returncode == 0, met.stderr
    records = [r for r in met.records() if r["error_detail"] != CUT_OFF]
    assert records and all(r["ok"] and r["n_out"] == 8 for r in records)
    assert all(r["t_send_ns"] < r["t_first_ns"] <= r["t_last_ns"] for r in records)
    assert breached.returncode == 1
    assert "SLO ttft_p95_ms<=0.0001 breached at level 0 (2 users)" in breached.stderr
    assert "Traceback" not in breached.stderr
    # Each run's fingerprint says how it read the engine, so a comparison can tell them apart.
    assert met.meta()["fingerprint"]["client"] == {
        "api": "openai", "transport": "openai", "itl_resolution_s": None
    }  # fmt: skip
    assert breached.meta()["fingerprint"]["client"] == {
        "api": "openai", "transport": "fast", "itl_resolution_s": 0.002
    }  # fmt: skip


def test_failures_are_recorded_with_their_class(runs: dict[str, SwarmRun]) -> None:
    run = runs["failures"]
    assert run.returncode == 0, run.stderr
    records = run.records()
    kinds = {r["error_type"] for r in records if not r["ok"] and r["error_detail"] != CUT_OFF}
    assert {"http_status", "stall", "malformed", "truncated"} <= kinds
    assert all(r["error_detail"] for r in records if not r["ok"])
    assert {r["http_status"] for r in records if r["error_type"] == "http_status"} == {500}
    assert sum(r["ok"] for r in records) > len(records) // 2  # the run went on
    errors_by_type = run.summary().levels[0].errors_by_type
    assert set(errors_by_type) == kinds


def test_two_processes_write_one_requests_file(runs: dict[str, SwarmRun]) -> None:
    run = runs["two-processes"]
    assert run.returncode == 0, run.stderr
    records = run.records()
    workers = {r["worker"] for r in records}
    assert len(workers) == 2
    for _, group in itertools.groupby(
        sorted(records, key=lambda r: r["worker"]), lambda r: r["worker"]
    ):
        seqs = [r["seq"] for r in group]
        assert len(seqs) == len(set(seqs))
    assert run.summary().levels[0].requests > 0


def test_sigterm_saves_results_and_stops_every_child(tmp_path: Path) -> None:
    results = tmp_path / "r"
    cmd = loadgen_cmd("swarm", "--sim", "fast", "--users", "2", "--run-time", "60s")
    cmd += ["--results", str(results), "--progress", "off", "--output-tokens", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        requests = results / "requests.jsonl"
        while not (requests.is_file() and requests.stat().st_size > 0):
            assert time.monotonic() < deadline and proc.poll() is None, "no requests"
            time.sleep(0.2)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2  # the simulator and Locust
        proc.terminate()
        _, stderr = proc.communicate(timeout=90)
    finally:
        stop(proc)  # type: ignore[arg-type]
    assert proc.returncode == 130, stderr[-2000:]
    assert (results / "summary.json").is_file() and (results / "meta.json").is_file()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive
