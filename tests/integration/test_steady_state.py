"""Staggered arrivals make the 50-user level of the vLLM-like profile steady, by the simulator's
own truth file: its steady window's TTFT p95/p50 stays under 2x and its TTFT p50 near the
virtual-time runner's. Properties of the server's own stamps, not of loadgen's speed. The
window's tok/s against the runner's steady value (within 5 %) depends on how busy the machine
is, so bench/steady_state.py checks it, side by side, on a longer run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.steady_state import WORKLOAD, check_level, read_truth
from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import run_swarm

PROFILE, SCALE = "vllm-4090-llama8b", 0.5
# The 50-user level's requests take about 6 s here; it ramps over the 10-user level's (2.8 s)
# and settles over 3 intervals with its throughput rolled over one request, so a 16 s level
# leaves a steady window of about 7 s and 50 requests.
STEP_TIME = "16s"


@pytest.mark.slow
def test_default_stagger_keeps_the_50_user_level_steady(
    sim_server: SimFactory, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    with sim_server(PROFILE, "--truth", str(truth), "--time-scale", str(SCALE)) as sim:
        run = run_swarm(
            tmp_path / "run", "--host", sim.url, "--users", "10,50", "--step-time", STEP_TIME,
            "--interval", "2s", *WORKLOAD,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    level = run.summary().levels[-1]
    assert level.users == 50 and level.ramp_s > 0  # ramped over the 10-user level's E2E
    check = check_level(level, read_truth(truth), PROFILE, SCALE)
    figures = "\n".join(check.lines())
    assert check.ttft_ratio < 2.0, figures
    assert check.ttft_excess < 2.0, figures
