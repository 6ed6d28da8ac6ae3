"""A real swarm (local runner, or master + 2 workers; the simulator as target) writes live to a
real influxd over the v1 API: every request of requests.jsonl is read back with InfluxQL, plus
the intervals and events, and the sink reports show nothing dropped.
"""

from __future__ import annotations

import collections
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadgen.results import read_sink_reports
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running


def swarm_cmd(
    host: str, results: Path, influx: Influxd, db: str, processes: int, run_time_s: int = 4
) -> list[str]:
    """`loadgen swarm` with three users for `run_time_s`, writing to `db` over the v1 API."""
    args = ["--host", host, "--users", "3", "--run-time", f"{run_time_s}s"]
    args += ["--results", str(results), "--progress", "off"]
    args += ["--processes", str(processes)] if processes else []
    args += ["--influx-url", influx.url, "--influx-flavour", "v1", "--influx-db", db]
    return loadgen_cmd("swarm", *args)


PROCESSES = (0, 2)  # one Locust process, or a master and two workers


@dataclass(frozen=True)
class Landed:
    """One finished swarm run and the database of the shared influxd it wrote to."""

    results: Path
    db: str
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def landed(influxd_shared: Influxd, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Landed]:
    """The local run and the run over two workers, side by side, each with its own simulator
    and database: what the test checks is what each run wrote, which holds at any load."""
    tmp = tmp_path_factory.mktemp("influx-swarm")
    ports = {processes: free_port() for processes in PROCESSES}

    def run(processes: int) -> Landed:
        work, db, port = tmp / str(processes), influxd_shared.create_db(), ports[processes]
        work.mkdir()
        sim = loadgen_cmd("sim", "--port", str(port), "--time-scale", "0.25")
        with running(sim, ready_url=f"http://{LOOPBACK}:{port}/v1/models", log=work / "sim.log"):
            done = subprocess.run(
                swarm_cmd(f"http://{LOOPBACK}:{port}", work / "run", influxd_shared, db, processes),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        return Landed(work / "run", db, done)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(PROCESSES, pool.map(run, PROCESSES), strict=True))


@pytest.mark.parametrize("processes", PROCESSES)
def test_swarm_run_lands_every_request_in_influxd(
    influxd_shared: Influxd, landed: dict[int, Landed], processes: int
) -> None:
    server, db, results = influxd_shared, landed[processes].db, landed[processes].results
    done = landed[processes].done
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (results / "requests.jsonl").read_text().splitlines()]
    assert len(records) > 10
    stored = server.rows(db, "SELECT worker, seq FROM llm_request")
    stored_keys = {(r["worker"], r["seq"]) for r in stored}
    assert len(stored_keys) == len(stored)  # no two requests share a timestamp and series
    assert {(r["worker"], r["seq"]) for r in records} <= stored_keys
    if processes:
        # Each worker's seqs run 0..n-1, so InfluxDB holds every request the workers made.
        # Not asserted equal to requests.jsonl: the master's file can miss a last shipment
        # from the workers (a swarm-side issue, reported), which InfluxDB does not.
        by_worker = collections.Counter(w for w, _ in stored_keys)
        assert len(by_worker) == 2  # each worker process wrote its own points
        for worker, n in by_worker.items():
            assert {seq for w, seq in stored_keys if w == worker} == set(range(n))
    else:
        assert len(stored) == len(records)  # the check: points == lines
        # Importing the run after the fact lands in the live series (engine tag from meta.json).
        args = ["--only", "jsonl", "--influx-url", server.url, "--influx-db", db]
        imported = subprocess.run(
            loadgen_cmd("import", str(results), *args), capture_output=True, text=True, check=False
        )
        assert imported.returncode == 0, imported.stderr
        assert server.count(db, "llm_request", "seq") == len(records)
    assert server.count(db, "llm_interval", "requests") > 0
    kinds = server.rows(db, 'SHOW TAG VALUES FROM "llm_event" WITH KEY = "kind"')
    assert {"run_start", "run_end"} <= {r["value"] for r in kinds}
    report = read_sink_reports(results)
    assert report is not None and report.dropped == 0 and report.spilled == 0
    assert report.written >= len(stored)
