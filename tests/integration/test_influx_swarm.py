"""A real swarm (Locust master + 2 workers, the simulator as target) writes live to a real influxd.

The v1 path: as many `llm_request` points as lines in requests.jsonl, read back with InfluxQL,
plus the intervals, stages and events, and sink reports with nothing dropped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loadgen.sinks.influx import read_reports
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

LOCUSTFILES = "locustfiles/chat.py,loadgen/swarm/influx_listener.py"


def swarm_cmd(host: str, results: Path, influx: Influxd, db: str) -> list[str]:
    """`loadgen swarm` once it takes --influx-*; until then the same Locust child it starts,
    with this listener added as a second locustfile."""
    influx_args = ["--influx-url", influx.url, "--influx-flavour", "v1", "--influx-db", db]
    help_text = subprocess.run(
        loadgen_cmd("swarm", "--help"), capture_output=True, text=True, check=False
    ).stdout
    run_args = ["--users", "3", "--run-time", "4s", "--results", str(results)]
    if "--influx-url" in help_text:
        return loadgen_cmd("swarm", "--host", host, *run_args, "--processes", "2", *influx_args)
    return [
        sys.executable, "-m", "locust", "-f", LOCUSTFILES, "--host", host, "--headless",
        "--only-summary", "-u", "3", "-r", "3", "--run-time", "4s", "--levels", "3",
        "--step-time", "4", "--warmup", "0", "--api", "openai", "--run-id", "influx-e2e",
        "--results", str(results), "--processes", "2", "--skip-log-setup", *influx_args,
    ]  # fmt: skip


def test_swarm_run_lands_every_request_in_influxd(
    influxd: tuple[Influxd, str], tmp_path: Path
) -> None:
    server, db = influxd
    port = free_port()
    results = tmp_path / "run"
    sim = loadgen_cmd("sim", "--port", str(port), "--time-scale", "0.25")
    with running(sim, ready_url=f"http://{LOOPBACK}:{port}/v1/models", log=tmp_path / "sim.log"):
        done = subprocess.run(
            swarm_cmd(f"http://{LOOPBACK}:{port}", results, server, db),
            capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (results / "requests.jsonl").read_text().splitlines()
    assert len(lines) > 10
    assert server.count(db, "llm_request", "seq") == len(lines)
    workers = server.rows(db, 'SHOW TAG VALUES FROM "llm_request" WITH KEY = "worker"')
    assert len(workers) == 2  # both worker processes wrote their own points
    assert server.count(db, "llm_interval", "requests") > 0
    kinds = server.rows(db, 'SHOW TAG VALUES FROM "llm_event" WITH KEY = "kind"')
    assert {"run_start", "run_end"} <= {r["value"] for r in kinds}
    report = read_reports(results)
    assert report is not None and report.dropped == 0 and report.spilled == 0
    assert report.written >= len(lines)
