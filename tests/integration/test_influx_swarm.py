"""A real swarm (local runner, or master + 2 workers; the simulator as target) writes live to a
real influxd over the v1 API: every request of requests.jsonl is read back with InfluxQL, plus
the intervals and events, and the sink reports show nothing dropped.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.sinks.influx import read_reports
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

LOCUSTFILES = "locustfiles/chat.py,loadgen/swarm/influx_listener.py"


def swarm_cmd(
    host: str, results: Path, influx: Influxd, db: str, processes: int, run_time_s: int = 4
) -> list[str]:
    """`loadgen swarm` once it takes --influx-*; until then the same Locust child it starts,
    with this listener added as a second locustfile."""
    influx_args = ["--influx-url", influx.url, "--influx-flavour", "v1", "--influx-db", db]
    help_text = subprocess.run(
        loadgen_cmd("swarm", "--help"), capture_output=True, text=True, check=False
    ).stdout
    run_args = ["--users", "3", "--run-time", f"{run_time_s}s", "--results", str(results)]
    run_args += ["--processes", str(processes)] if processes else []
    if "--influx-url" in help_text:
        return loadgen_cmd("swarm", "--host", host, *run_args, *influx_args)
    return [
        sys.executable, "-m", "locust", "-f", LOCUSTFILES, "--host", host, "--headless",
        "--only-summary", "-u", "3", "-r", "3", "--run-time", f"{run_time_s}s", "--levels", "3",
        "--step-time", str(run_time_s), "--warmup", "0", "--api", "openai", "--run-id", "influx-e2e",
        "--skip-log-setup", "--exit-code-on-error", "0",
        *run_args[4:], *influx_args,  # --results and --processes
    ]  # fmt: skip


@pytest.mark.parametrize("processes", [0, 2])
def test_swarm_run_lands_every_request_in_influxd(
    influxd: tuple[Influxd, str], tmp_path: Path, processes: int
) -> None:
    server, db = influxd
    port = free_port()
    results = tmp_path / "run"
    sim = loadgen_cmd("sim", "--port", str(port), "--time-scale", "0.25")
    with running(sim, ready_url=f"http://{LOOPBACK}:{port}/v1/models", log=tmp_path / "sim.log"):
        done = subprocess.run(
            swarm_cmd(f"http://{LOOPBACK}:{port}", results, server, db, processes),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (results / "requests.jsonl").read_text().splitlines()]
    assert len(records) > 10
    stored = server.rows(db, "SELECT worker, seq FROM llm_request")
    stored_keys = {(r["worker"], r["seq"]) for r in stored}
    assert len(stored_keys) == len(stored)  # no two requests share a timestamp and series
    assert {(r["worker"], r["seq"]) for r in records} <= stored_keys
    if processes == 0:
        assert len(stored) == len(records)  # the check: points == lines
        # Importing the run after the fact lands in the live series (engine tag from meta.json).
        args = ["--only", "jsonl", "--influx-url", server.url, "--influx-db", db]
        imported = subprocess.run(
            loadgen_cmd("import", str(results), *args), capture_output=True, text=True, check=False
        )
        assert imported.returncode == 0, imported.stderr
        assert server.count(db, "llm_request", "seq") == len(records)
    else:
        # Each worker's seqs are 0..n-1: InfluxDB holds every request the workers made.
        # (The master's requests.jsonl can miss the last shipment; see the report to the lead.)
        by_worker = collections.Counter(r["worker"] for r in stored)
        assert len(by_worker) == 2
        for worker, n in by_worker.items():
            assert {seq for w, seq in stored_keys if w == worker} == set(range(n))
    assert server.count(db, "llm_interval", "requests") > 0
    kinds = server.rows(db, 'SHOW TAG VALUES FROM "llm_event" WITH KEY = "kind"')
    assert {"run_start", "run_end"} <= {r["value"] for r in kinds}
    report = read_reports(results)
    assert report is not None and report.dropped == 0 and report.spilled == 0
    assert report.written >= len(stored)
