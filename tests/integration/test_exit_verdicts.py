"""Exit codes a pipeline can trust, on real `loadgen swarm` runs: the error gate, a level in
which nothing succeeded, an engine that died mid-run and a starved load generator."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.net import stop
from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import SwarmRun, run_swarm

SHORT = ("--users", "2", "--run-time", "2s", "--output-tokens", "8")


def test_the_error_gate_and_a_level_without_a_success_exit_1(tmp_path: Path) -> None:
    flaky = run_swarm(tmp_path / "flaky", "--sim", "fast", "--sim-faults", "http500=0.3", *SHORT)
    assert flaky.returncode == 1, flaky.stderr
    assert "error gate error_rate<=0.05 breached at level 0 (2 users)" in flaky.stderr
    assert "error % <=5" in flaky.stdout  # the table shows the gate
    dead = run_swarm(
        tmp_path / "dead", "--sim", "fast", "--sim-faults", "http500=1", *SHORT,
        "--max-error-rate", "1",
    )  # fmt: skip
    assert dead.returncode == 1, dead.stderr
    assert "error gate" not in dead.stderr  # off
    assert "loadgen: no request succeeded at level 0 (2 users)" in dead.stderr
    assert "most common error http_status x" in dead.stderr and "HTTP 500" in dead.stderr
    assert "Traceback" not in dead.stderr


def test_an_engine_that_dies_mid_run_exits_1_and_says_when(
    tmp_path: Path, sim_server: SimFactory
) -> None:
    results = tmp_path / "r"
    done: list[SwarmRun] = []
    with sim_server("fast") as sim:
        args = ("--host", sim.url, "--users", "2", "--run-time", "5s", "--output-tokens", "64")
        swarm = threading.Thread(target=lambda: done.append(run_swarm(results, *args)))
        swarm.start()
        deadline = time.monotonic() + 60
        requests = results / "requests.jsonl"
        while not (requests.is_file() and requests.stat().st_size > 0):
            assert time.monotonic() < deadline and swarm.is_alive(), "no requests"
            time.sleep(0.1)
        stop(sim.proc)  # the engine dies with the run under way
        swarm.join(120)
    (run,) = done
    assert run.returncode == 1, run.stderr
    summary = run.summary()
    assert summary.engine_unreachable_unix_ns is not None
    assert summary.engine_unreachable_errors >= 3
    (line,) = [ln for ln in run.stderr.splitlines() if "the engine became unreachable" in ln]
    assert f"{summary.engine_unreachable_errors} connect errors" in line
    assert "Z (" in line and "s into the run)" in line  # UTC time, seconds into the run
    assert summary.levels[0].errors_by_type.get("connect", 0) > 0  # counted in the level


@pytest.mark.parametrize("allow", [False, True])
def test_a_starved_generator_exits_1_unless_allowed(tmp_path: Path, allow: bool) -> None:
    run = run_swarm(
        tmp_path / "r", "--sim", "fast", "--users", "2", "--run-time", "3s",
        "--interval", "1s", "--saturation-lag-ms", "0.001", "--output-tokens", "8",
        *(["--allow-saturated"] if allow else []),
        env={"LOADGEN_ALLOW_SATURATED": "0"},
    )  # fmt: skip
    assert run.returncode == (0 if allow else 1), run.stderr
    assert "loadgen: load generator saturated:" in run.stderr
    assert "event-loop lag p99 above 0.001 ms for" in run.stderr
    generator = run.summary().generator
    assert generator is not None and generator.saturated
    (worker,) = generator.workers.values()
    assert "lag" in worker.saturated_by and worker.lag_busy_intervals_max >= 2
