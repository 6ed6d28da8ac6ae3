"""bench/peers.py end to end on its loadgen-only path: a tiny paced scenario, every request of
loadgen and of the bare Python floor client joined to the simulator's truth; a peer that is not
installed is one line, not a crash. No timing is asserted: the bench prints figures, it does
not judge them here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_joins_every_loadgen_request_and_skips_a_missing_peer(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "peers.py"), "--scenarios", "paced:4"]
    cmd += ["--clients", "loadgen,floor,vllm,guidellm", "--paced-tok-s", "200", "--rounds", "2"]
    cmd += ["--min-requests", "8", "--input-tokens", "8", "--output-tokens", "16"]
    cmd += ["--timeout-s", "60"]
    env = {**os.environ, "REAL": str(tmp_path / "none"), "PEERS_GUIDELLM_VENV": str(tmp_path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert sum("skipped: no " in line for line in lines) == 2, done.stdout  # vllm, guidellm
    row = next(line.split() for line in lines if line.startswith("loadgen "))
    requests, joined, tokens = int(row[1]), int(row[2]), int(row[3])
    assert requests == joined == 8 and tokens == 8 * 16, done.stdout
    # the window's CPU, counted (it may read 0 here: /proc counts CPU in 10 ms ticks)
    assert float(row[5]) >= 0 and float(row[6]) >= 0
    assert row[7] == "-"  # no vllm bench: no ratio
    floor = next(line.split() for line in lines if line.startswith("floor (Python) "))
    assert int(floor[2]) == int(floor[3]) == 8 and int(floor[4]) == 8 * 16, done.stdout


def test_bad_scenarios_are_one_line_and_exit_2() -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "peers.py"), "--scenarios", "fast:lots"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stdout.strip().splitlines()) == 1
