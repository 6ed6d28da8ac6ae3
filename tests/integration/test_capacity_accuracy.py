"""`loadgen capacity` on a calibrated profile against the virtual-time runner's true capacity.

The Ollama-like profile (48 slots, per-token time 10.3 ms + 5.73 ms per busy slot) run by a real
simulator at a fifth of its time: the ITL p50 is one decode step, so it grows by 5.73 ms with
every user and the capacity for `itl_p50_ms<=100` is well defined (15 users). At time scale S
every latency is S times the profile's, so the same capacity answers `itl_p50_ms<=100*S`; the
virtual runner checks that too. The search must land within one precision step of the truth.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.results import read_summary
from loadgen.sim.profiles import load_profile
from loadgen.sim.virtual import LoopLatencies, time_scaled, true_capacity
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

PROFILE = "ollama-4090-llama8b"
SCALE = 0.2
PROMPT_TOKENS, OUTPUT_TOKENS = 128, 24  # short answers: a probe measures quickly
# A probe: at least 25 requests of 23 token gaps each, steadiness judged over 0.25 s intervals
# (a decode step is 11-21 ms here); a few seconds, 20 s at most.
ITL_P50_MS = 100.0
PRECISION = 0.1


def truth(scale: float) -> int:
    def holds(run: LoopLatencies) -> bool:
        return run.itl_p50_ms is not None and run.itl_p50_ms <= ITL_P50_MS * scale

    profile = time_scaled(load_profile(PROFILE), scale)
    return true_capacity(profile, holds, PROMPT_TOKENS, OUTPUT_TOKENS, 32, 60.0 * scale)


@pytest.mark.slow
def test_capacity_finds_the_true_capacity_of_a_calibrated_profile(tmp_path: Path) -> None:
    expected = truth(SCALE)
    assert expected == truth(1.0) == 15  # the answer in users does not depend on the scale
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    sim = loadgen_cmd("sim", "--profile", PROFILE, "--port", str(port))
    results = tmp_path / "run"
    argv = loadgen_cmd(
        *("capacity", "--host", url, "--slo", f"itl_p50_ms<={ITL_P50_MS * SCALE:g}"),
        *("--users", "8", "--max-users", "32", "--precision", f"{PRECISION:g}"),
        *("--interval", "0.25s", "--min-requests", "25", "--max-step-time", "20s", "--ignore-eos"),
        *("--input-tokens", str(PROMPT_TOKENS), "--output-tokens", str(OUTPUT_TOKENS)),
        *("--progress", "off", "--results", str(results)),
    )
    with running([*sim, "--time-scale", f"{SCALE:g}"], ready_url=f"{url}/v1/models"):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=150, check=False)
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    section = read_summary(results).capacity
    assert section is not None and section["converged"]
    found = section["capacity"]
    assert abs(found - expected) <= max(1.0, PRECISION * expected), (found, expected)
