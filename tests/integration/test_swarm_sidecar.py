"""`loadgen swarm --sidecar`: a real sidecar process beside a real swarm and simulator, writing
sidecar.jsonl (and a real influxd) under the swarm's run_id; it is gone when the run ends. One
such run (with an engine label) serves the tests of its files and of its points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.fixtures.influx import Influxd
from tests.fixtures.net import free_port
from tests.fixtures.swarm import SwarmRun, run_swarm

SHORT_RUN = ("--sim", "fast", "--users", "1,2", "--step-time", "3s", "--warmup", "1s")
SIDECAR = ("--sidecar", "--sidecar-interval", "0.5s", "--output-tokens", "32")


def _sidecar_lines(run: SwarmRun) -> list[dict[str, Any]]:
    text = (run.results / "sidecar.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _sidecars_of(run_id: str) -> list[psutil.Process]:
    """Live `loadgen sidecar` processes started for this run (their argv holds the run id)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "sidecar" in cmdline and run_id in cmdline:
            found.append(proc)
    return found


@dataclass(frozen=True)
class SidecarRun:
    """The module's run with a sidecar, an engine label and InfluxDB (`db` of `server`)."""

    run: SwarmRun
    server: Influxd
    db: str


@pytest.fixture(scope="module")
def sidecar_run(influxd_shared: Influxd, tmp_path_factory: pytest.TempPathFactory) -> SidecarRun:
    """One `loadgen swarm --sidecar` run, read by the tests of its files and of its points."""
    db = influxd_shared.create_db()
    influx = ("--influx-url", influxd_shared.url, "--influx-flavour", "v1", "--influx-db", db)
    tmp = tmp_path_factory.mktemp("sidecar")
    run = run_swarm(tmp / "r", *SHORT_RUN, *SIDECAR, "--engine", "lab-sim", *influx)
    return SidecarRun(run, influxd_shared, db)


def test_sidecar_samples_the_embedded_simulator_under_the_run_id(sidecar_run: SidecarRun) -> None:
    run = sidecar_run.run
    assert run.returncode == 0, run.stderr
    summary = run.summary()
    run_id = summary.run_id
    assert run.meta()["run_id"] == run_id
    assert {r["run_id"] for r in run.records()} == {run_id}
    lines = _sidecar_lines(run)
    assert {line["run_id"] for line in lines} == {run_id}
    assert {"gpu", "process", "host"} <= {line["kind"] for line in lines}
    levels = summary.levels
    assert [lv.users for lv in levels] == [1, 2]
    for level in levels:
        peak, idle = level.vram_peak_bytes, level.vram_idle_bytes
        assert peak is not None and idle is not None
        assert peak > 0 and idle > 0
        assert peak >= idle
        assert level.engine_rss_peak_bytes is not None
        assert level.engine_rss_peak_bytes > 0  # the simulator's own process tree
    assert "VRAM peak GB" in run.stdout and "RSS peak GB" in run.stdout
    assert summary.meta.sim_profile == "fast"
    assert _sidecars_of(run_id) == []


def test_without_sidecar_no_resource_columns(tmp_path: Path) -> None:
    run = run_swarm(tmp_path / "r", *SHORT_RUN, "--output-tokens", "16")
    assert run.returncode == 0, run.stderr
    assert not (run.results / "sidecar.jsonl").exists()
    assert all(level.vram_peak_bytes is None for level in run.summary().levels)
    assert "VRAM" not in run.stdout


@pytest.mark.parametrize(
    "flags",
    [
        ("--sidecar-pid", "1"),  # without --sidecar
        ("--sidecar", "--sidecar-pid", "1", "--sidecar-process-name", "ollama"),
        ("--sidecar", "--sidecar-interval", "0s"),
        ("--sidecar", "--sidecar-pid", "999999999"),
    ],
)
def test_bad_sidecar_flags_are_one_line(tmp_path: Path, flags: tuple[str, ...]) -> None:
    run = run_swarm(tmp_path / "r", *SHORT_RUN, *flags)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "r").exists()  # nothing started


def test_sidecar_and_swarm_points_share_run_id_and_engine_in_influxd(
    sidecar_run: SidecarRun,
) -> None:
    run, server, db = sidecar_run.run, sidecar_run.server, sidecar_run.db
    assert run.returncode == 0, run.stderr
    run_id = run.summary().run_id
    for measurement in ("llm_request", "llm_stage", "gpu", "process", "host"):
        for key, expected in (("run_id", run_id), ("engine", "lab-sim")):
            q = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
            assert {r["value"] for r in server.rows(db, q)} == {expected}, (measurement, key)
    stages = server.rows(db, 'SELECT "users", "vram_peak_bytes" FROM "llm_stage"')
    assert sorted(row["users"] for row in stages) == [1, 2]  # type: ignore[type-var]
    assert all(row["vram_peak_bytes"] > 0 for row in stages)  # type: ignore[operator]
    report = run.summary().influx
    assert report is not None
    assert report.dropped == 0 and report.spilled == 0 and report.written > 0
    assert f"influx: {report.written} points written" in run.stdout
    assert _sidecars_of(run_id) == []


@pytest.mark.parametrize("problem", ["unreachable", "no such database"])
def test_bad_influx_settings_are_one_line_before_any_load(
    influxd: tuple[Influxd, str], tmp_path: Path, problem: str
) -> None:
    server, _db = influxd
    if problem == "unreachable":
        settings = ("--influx-url", f"http://127.0.0.1:{free_port()}", "--influx-db", "x")
    else:
        settings = ("--influx-url", server.url, "--influx-db", "no_such_db")
    run = run_swarm(tmp_path / "r", *SHORT_RUN, "--influx-flavour", "v1", *settings)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "InfluxDB" in lines[0], run.stderr
    assert not (tmp_path / "r").exists()  # no simulator, no Locust, no results
