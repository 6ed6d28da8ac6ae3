"""A real influxd goes away mid-run: the load loop never waits, and every point ends up stored."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_http import preflight
from loadgen.sinks.influx_settings import InfluxSettings
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.integration.test_influx_sink import request_points
from tests.integration.test_influx_swarm import swarm_cmd

# A dead flusher thread is a failure, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

# Longer than the sink's back-off run-up (sinks/influx.py: 0.25 s doubling, at most 0.25 + 0.5 +
# 1 + 2 + 4 = 7.75 s of sleeps before the sixth failed attempt, whose back-off is the 8 s cap of
# InfluxSettings.backoff_max_s): the flusher is in its longest back-off before influxd returns.
# Inside the 60 s retry window, as a 20 s outage was: the batches wait it out in retries.
OUTAGE_S = 10.0


def replay(server: Influxd, db: str, path: Path) -> subprocess.CompletedProcess[str]:
    cmd = loadgen_cmd("replay", str(path), "--influx-url", server.url, "--influx-db", db)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_a_10_s_outage_mid_run_loses_nothing(
    influxd_factory: Callable[..., Influxd], tmp_path: Path
) -> None:
    server = influxd_factory()
    db = server.create_db()
    s = preflight(InfluxSettings(url=server.url, db=db, flush_interval_s=0.2, batch_points=200))
    sink = InfluxSink(s, tmp_path / "influx-spool.lp").start()
    down = threading.Event()

    def outage() -> None:
        time.sleep(3.0)
        server.stop()
        down.set()
        time.sleep(OUTAGE_S)
        server.start()
        down.clear()

    controller = threading.Thread(target=outage)
    controller.start()
    points = request_points(6000)
    written_while_down = 0
    for start in range(0, len(points), 40):  # ~15 s of load: 40 points every 0.1 s
        sink.write(points[start : start + 40])
        written_while_down += 40 if down.is_set() else 0
        time.sleep(0.1)
    controller.join()
    report = sink.close(timeout_s=10)
    print(f"outage run: {report}")  # shown with -s: retries alone normally cover the outage
    if report.spilled:  # the documented second step, should the retries have run out
        assert replay(server, db, tmp_path).returncode == 0
    assert written_while_down >= 3000  # the loop kept going: 3/4 of the 4000 it sends in 10 s
    assert report.dropped == 0 and report.retries > 0
    assert report.written + report.spilled == 6000
    assert server.count(db, "llm_request", "seq") == 6000


def test_server_down_until_the_end_then_replay(
    influxd_factory: Callable[..., Influxd], tmp_path: Path
) -> None:
    server = influxd_factory()
    db = server.create_db()
    s = preflight(InfluxSettings(url=server.url, db=db, batch_points=100))
    server.stop()
    sink = InfluxSink(s, tmp_path / "influx-spool.lp", tmp_path / "influx.json").start()
    for start in range(0, 500, 25):
        sink.write(request_points(500)[start : start + 25])
    report = sink.close(timeout_s=1)
    assert (report.written, report.spilled, report.dropped) == (0, 500, 0)
    assert 0 < report.retries < 50  # backed off, never a busy loop while closing
    assert len((tmp_path / "influx-spool.lp").read_text().splitlines()) == 500
    server.start()
    for _ in range(2):  # idempotent: a second replay overwrites, it does not add
        done = replay(server, db, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "loaded 500 points" in done.stdout
        assert server.count(db, "llm_request", "seq") == 500


@pytest.mark.slow
def test_a_swarm_run_rides_out_a_10_s_outage(
    influxd_factory: Callable[..., Influxd], tmp_path: Path
) -> None:
    """A real swarm run (local runner, simulator target, v1): influxd is stopped for 10 s."""
    server = influxd_factory()
    db = server.create_db()
    port = free_port()
    results = tmp_path / "run"
    window_ns: list[int] = []

    def outage() -> None:
        deadline = time.monotonic() + 60
        while server.count(db, "llm_request", "seq") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # the run is under way and writing
        server.stop()
        window_ns.append(time.time_ns())
        time.sleep(OUTAGE_S)
        window_ns.append(time.time_ns())
        server.start()

    sim = loadgen_cmd("sim", "--port", str(port), "--time-scale", "0.25")
    with running(sim, ready_url=f"http://{LOOPBACK}:{port}/v1/models", log=tmp_path / "sim.log"):
        controller = threading.Thread(target=outage)
        controller.start()
        cmd = swarm_cmd(f"http://{LOOPBACK}:{port}", results, server, db, 0, run_time_s=16)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=150, check=False)
        controller.join()
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (results / "requests.jsonl").read_text().splitlines()]
    sent_while_down = [r for r in records if window_ns[0] < r["wall_send_unix_ns"] < window_ns[1]]
    assert len(sent_while_down) > 20  # the load loop never waited on the database
    report = json.loads((results / "influx.json").read_text())
    assert report["dropped"] == 0 and report["retries"] > 0
    if report["spilled"]:
        assert replay(server, db, results).returncode == 0
    assert server.count(db, "llm_request", "seq") == len(records)
