"""Staggered arrivals make the 50-user level of the vLLM-like profile steady, by the simulator's
own truth file: its steady window's TTFT p95/p50 stays under 2x, its TTFT p50 near the
virtual-time runner's, and loadgen's tok/s within 5 % of the runner's steady value
(bench/steady_state.py prints the same figures on a longer run). Properties of the run, never
of loadgen's speed: the simulator runs at half time, and tok/s is rescaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.steady_state import WORKLOAD, check_level, read_truth
from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import run_swarm

PROFILE, SCALE = "vllm-4090-llama8b", 0.5


@pytest.mark.slow
def test_default_stagger_keeps_the_50_user_level_steady(
    sim_server: SimFactory, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    with sim_server(PROFILE, "--truth", str(truth), "--time-scale", str(SCALE)) as sim:
        run = run_swarm(
            tmp_path / "run", "--host", sim.url, "--users", "10,50", "--step-time", "36s",
            "--interval", "2s", *WORKLOAD,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    level = run.summary().levels[-1]
    assert level.users == 50 and level.ramp_s > 0  # ramped over the 10-user level's E2E
    check = check_level(level, read_truth(truth), PROFILE, SCALE)
    figures = "\n".join(check.lines())
    assert check.ttft_ratio < 2.0, figures
    assert check.ttft_excess < 2.0, figures
    assert abs(check.tok_s_error) <= 0.05, figures
