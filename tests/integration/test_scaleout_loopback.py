"""Scale-out on loopback: a `loadgen swarm --master` and two `loadgen worker` processes against a
real simulator. Totals add up over workers, percentiles equal those of the union of the raw
records, a worker killed mid-run is named, and the saturation flag drives the exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from loadgen.results import read_summary
from loadgen.summary import RunSummary
from loadgen.swarm.exchange import request_id
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import run_swarm, swarm_env

RUN_TIMEOUT_S = 150


@dataclass
class Cluster:
    """A master run (Popen) plus its two worker processes."""

    master: subprocess.Popen[str]
    workers: list[subprocess.Popen[bytes]]
    results: Path

    def finish(self) -> tuple[int, str]:
        """Wait for the master; its exit code and stderr."""
        try:
            _, stderr = self.master.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.master.pid, signal.SIGKILL)
            raise
        return self.master.returncode, stderr

    def summary(self) -> RunSummary:
        return read_summary(self.results)

    def records(self) -> list[dict[str, Any]]:
        lines = (self.results / "requests.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@contextlib.contextmanager
def cluster(tmp_path: Path, host: str, *args: str) -> Iterator[Cluster]:
    """`loadgen swarm --master --expect-workers 2` and two `loadgen worker`, all on loopback."""
    port = free_port()
    results = tmp_path / "results"
    cmd = loadgen_cmd("swarm", "--host", host, "--master", "--expect-workers", "2")
    cmd += ["--master-bind-host", LOOPBACK, "--master-port", str(port), "--worker-wait", "60s"]
    cmd += ["--results", str(results), "--progress", "off", "--interval", "1s", *args]
    env = swarm_env()
    master = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    worker = loadgen_cmd("worker", "--master-host", LOOPBACK, "--master-port", str(port))
    try:
        with (
            running(worker, log=tmp_path / "w0.log", env=env) as w0,
            running(worker, log=tmp_path / "w1.log", env=env) as w1,
        ):
            yield Cluster(master, [w0, w1], results)
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGKILL)
            master.communicate()


def _itl_ms(record: dict[str, Any]) -> list[float]:
    return list(np.diff(np.asarray(record["frame_times_ns"], dtype=np.int64)) / 1e6)


def assert_percentiles_from_union(summary: RunSummary, records: list[dict[str, Any]]) -> None:
    """Every level's percentiles equal numpy's over the raw records that ended in its window."""
    assert summary.levels
    for level in summary.levels:
        start, end = level.window_start_unix_ns, level.window_end_unix_ns
        assert start is not None and end is not None
        inside = [
            r
            for r in records
            if start <= r["wall_send_unix_ns"] + r["t_end_ns"] - r["t_send_ns"] < end
        ]
        ok = [r for r in inside if r["ok"]]
        assert level.requests == len(inside) > 0
        assert len({r["worker"] for r in ok}) == 2  # both workers fed this level
        ttft = [(r["t_first_ns"] - r["t_send_ns"]) / 1e6 for r in ok]
        e2e = [(r["t_last_ns"] - r["t_send_ns"]) / 1e6 for r in ok]
        itl = [gap for r in ok for gap in _itl_ms(r)]
        for name, values in (("ttft", ttft), ("e2e", e2e)):
            for q in (50, 95, 99):
                assert getattr(level, f"{name}_p{q}_ms") == pytest.approx(np.percentile(values, q))
        assert level.itl_p99_ms == pytest.approx(np.percentile(itl, 99))
        assert level.output_tokens == sum(r["n_out"] for r in ok)


def test_master_and_two_workers_add_up(tmp_path: Path, sim_server: SimFactory) -> None:
    with (
        sim_server("fast") as sim,
        cluster(
            tmp_path,
            sim.url,
            "--users",
            "2,4",
            "--step-time",
            "4s",
            "--output-tokens",
            "16",
            "--saturation-cpu-pct",
            "0",
            "--allow-saturated",
        ) as run,
    ):
        code, stderr = run.finish()
    assert code == 0, stderr
    summary, records = run.summary(), run.records()
    generator = summary.generator
    assert generator is not None
    per_worker = {w: h.requests for w, h in generator.workers.items()}
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values())
    assert sum(per_worker.values()) == summary.requests_recorded == len(records)
    assert Counter(r["worker"] for r in records) == per_worker
    for worker in per_worker:  # every request of every worker arrived, none twice
        seqs = sorted(r["seq"] for r in records if r["worker"] == worker)
        assert seqs == list(range(len(seqs)))
    assert {r["run_id"] for r in records} == {summary.run_id}
    assert [lv.users for lv in summary.levels] == [2, 4]
    assert_percentiles_from_union(summary, records)
    # health: every worker reported CPU and loop lag; threshold 0 % flags them, allowed here
    for health in generator.workers.values():
        assert health.intervals >= 2 and health.loop_lag_p99_ms is not None
    assert generator.saturated and generator.lost_workers == []
    assert "load generator saturated" in stderr


def _locust_pid(worker: subprocess.Popen[bytes]) -> int:
    """The Locust process under a `loadgen worker` (whose pid is in its records' worker id)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = psutil.Process(worker.pid).children()
        if children:
            return children[0].pid
        time.sleep(0.1)
    raise TimeoutError("the worker started no Locust process")


def _wait_requests(truth: Path, pids: list[int], count: int) -> None:
    """Until the simulator has served `count` requests from each Locust worker process (its
    truth file names each by x-request-id, derived from the worker id and the sequence)."""
    last = [request_id(f"{socket.gethostname()}:{pid}", count - 1) for pid in pids]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = truth.read_text() if truth.is_file() else ""
        if all(f'"{rid}"' in text for rid in last):
            return
        time.sleep(0.2)
    raise TimeoutError("the workers sent no requests")


def test_a_killed_worker_is_named_and_the_run_finishes(
    tmp_path: Path, sim_server: SimFactory
) -> None:
    truth = tmp_path / "truth.jsonl"
    with (
        sim_server("fast", "--truth", str(truth)) as sim,
        cluster(
            tmp_path, sim.url, "--users", "4", "--run-time", "12s", "--output-tokens", "16"
        ) as run,
    ):
        pids = [_locust_pid(w) for w in run.workers]
        _wait_requests(truth, pids, 10)
        os.killpg(run.workers[1].pid, signal.SIGKILL)  # the worker and its Locust process
        code, stderr = run.finish()
    assert code == 0, stderr  # a lost worker changes no exit code; only SLOs and saturation do
    summary, records = run.summary(), run.records()
    generator = summary.generator
    assert generator is not None
    lost = generator.lost_workers
    assert len(lost) == 1 and lost[0].endswith(f":{pids[1]}")
    assert f"lost worker {lost[0]}" in stderr
    survivor = next(w for w in generator.workers if w.endswith(f":{pids[0]}"))
    assert generator.workers[survivor].requests > 0
    assert summary.levels[0].requests > 0
    assert summary.requests_recorded == len(records)


def test_saturation_fails_the_run_unless_allowed(tmp_path: Path, sim_server: SimFactory) -> None:
    with sim_server("fast") as sim:
        run = run_swarm(
            tmp_path / "r",
            *("--host", sim.url, "--processes", "2", "--users", "2", "--run-time", "3s"),
            *("--interval", "1s", "--output-tokens", "8", "--saturation-cpu-pct", "0"),
            env={"LOADGEN_ALLOW_SATURATED": "0"},
        )
    assert run.returncode == 1, run.stderr
    assert "load generator saturated" in run.stderr
    generator = run.summary().generator
    assert generator is not None
    assert generator.saturated and len(generator.saturated_workers) == 2
