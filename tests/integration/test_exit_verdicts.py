"""Exit codes a pipeline can trust, on real `loadgen swarm` runs: the error gate, a level in
which nothing succeeded and a starved load generator allowed by --allow-saturated. A dead
engine and a starved generator without it are cases of test_fault_matrix.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fixtures.swarm import run_swarm

SHORT = ("--users", "2", "--run-time", "2s", "--output-tokens", "8")


def test_the_error_gate_and_a_level_without_a_success_exit_1(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as pool:  # two runs side by side, each with its own simulator
        flaky_run = pool.submit(
            run_swarm, tmp_path / "flaky", "--sim", "fast", "--sim-faults", "http500=0.3", *SHORT
        )
        dead_run = pool.submit(
            run_swarm, tmp_path / "dead", "--sim", "fast", "--sim-faults", "http500=1", *SHORT,
            "--max-error-rate", "1",
        )  # fmt: skip
        flaky, dead = flaky_run.result(), dead_run.result()
    assert flaky.returncode == 1, flaky.stderr
    assert "error gate error_rate<=0.05 breached at level 0 (2 users)" in flaky.stderr
    assert "error % <=5" in flaky.stdout  # the table shows the gate
    assert dead.returncode == 1, dead.stderr
    assert "error gate" not in dead.stderr  # off
    assert "loadgen: no request succeeded at level 0 (2 users)" in dead.stderr
    assert "most common error http_status x" in dead.stderr and "HTTP 500" in dead.stderr
    assert "Traceback" not in dead.stderr


def test_a_starved_generator_is_reported_and_allowed_with_allow_saturated(
    tmp_path: Path,
) -> None:
    """Exit 0 with --allow-saturated; without it, exit 1 (test_fault_matrix.py)."""
    run = run_swarm(
        tmp_path / "r", "--sim", "fast", "--users", "2", "--run-time", "3s",
        "--interval", "1s", "--saturation-lag-ms", "0.001", "--output-tokens", "8",
        "--allow-saturated", env={"LOADGEN_ALLOW_SATURATED": "0"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "loadgen: load generator saturated:" in run.stderr
    assert "event-loop lag p99 above 0.001 ms for" in run.stderr
    generator = run.summary().generator
    assert generator is not None and generator.saturated
    (worker,) = generator.workers.values()
    assert "lag" in worker.saturated_by and worker.lag_busy_intervals_max >= 2
