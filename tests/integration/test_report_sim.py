"""`loadgen report` and `loadgen compare` on results that a real `loadgen swarm --sim` run wrote."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.net import loadgen_cmd
from tests.fixtures.swarm import SwarmRun, run_swarm

pytestmark = pytest.mark.slow
LEVELS = ("--users", "1,3", "--step-time", "3s", "--warmup", "1s")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[SwarmRun, SwarmRun]:
    """Two runs side by side (each with its own simulator): their levels last the same 3 s."""
    root = tmp_path_factory.mktemp("runs")
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(run_swarm, root / name, "--sim", "fast", *LEVELS, "--output-tokens", n)
            for name, n in (("short", "16"), ("long", "64"))
        ]
        short, long = (run.result() for run in runs)
    for run in (short, long):
        assert run.returncode == 0, run.stderr[-2000:]
    return short, long


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(loadgen_cmd(*args), capture_output=True, text=True, timeout=120)


def test_report_of_a_real_run(two_runs: tuple[SwarmRun, SwarmRun], tmp_path: Path) -> None:
    run = two_runs[0]
    result = _cli("report", str(run.results), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Run fingerprint"  # the run's fingerprint table comes first
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("| users")) :]
    rows = [line for line in table if line.startswith("| ") and "users" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "3"]
    levels = run.summary().levels
    assert f"{levels[1].output_tok_s:,.0f}" in rows[1]
    html = (tmp_path / "report.html").read_text()
    assert html.count('<figure class="chart"') == 5  # the four, and where the TTFT goes
    assert len(list(tmp_path.glob("*.png"))) == 5
    assert (tmp_path / "ttft_breakdown.png").is_file()


def test_compare_of_two_real_runs(two_runs: tuple[SwarmRun, SwarmRun], tmp_path: Path) -> None:
    short, long = two_runs
    result = _cli("compare", str(short.results), str(long.results), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    ids = [r.summary().run_id for r in two_runs]
    header = next(line for line in result.stdout.splitlines() if line.startswith("| users"))
    assert f"{ids[1]}/{ids[0]}" in header  # both are "sim/sim-fast": run ids tell them apart
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 3 "))
    tok = [lv.output_tok_s for lv in (short.summary().levels[1], long.summary().levels[1])]
    assert f"{tok[1] / tok[0]:.2f}x" in row
    assert (tmp_path / "report.html").exists()
