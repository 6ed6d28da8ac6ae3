"""`loadgen capacity` end to end: a real simulator whose answer is known, a real Locust child.

The simulator runs a light profile of 4 slots (Ollama-like FIFO, short requests): the TTFT p95
jumps once users exceed the slots, and the virtual-time runner computes the true capacity of
the same profile for the same objective. The search must land on it within one precision step.
It is the session's search (tests/fixtures/capacity.py), whose files the report and dashboards
tests read too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.results import read_summary
from loadgen.sim.profiles import load_profile
from loadgen.sim.virtual import LoopLatencies, true_capacity
from tests.fixtures.capacity import AUTO_PROBES, MIN_REQUESTS, TOKENS, TTFT_P95_MS, CapacitySearch
from tests.fixtures.net import loadgen_cmd


def ttft_holds(run: LoopLatencies) -> bool:
    return run.ttft_p95_ms is not None and run.ttft_p95_ms <= TTFT_P95_MS


@pytest.mark.slow
def test_capacity_finds_the_slot_limit_and_answers_need(capacity_search: CapacitySearch) -> None:
    proc, results = capacity_search, capacity_search.results
    truth = true_capacity(load_profile(str(proc.profile)), ttft_holds, TOKENS, TOKENS, 64, 20.0)
    assert truth == 4
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 1, proc.stderr  # --need 5: the capacity (4) is not enough
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"capacity: {truth} users (bracket within 1 user)")
    assert "tok/s" in lines[1] and "TTFT p50/p95/p99" in lines[1]
    assert f"first failing probe: {truth + 1} users" in proc.stdout
    assert f"broke ttft_p95_ms<={TTFT_P95_MS:g}: ttft_p95_ms = " in proc.stdout
    assert "need: 5 users: not enough" in proc.stdout

    summary = read_summary(results)
    section = summary.capacity
    assert section is not None
    assert (section["capacity"], section["converged"], section["mode"]) == (truth, True, "users")
    loads = [p["load"] for p in section["probes"]]
    assert loads == [2, 4, 8, 6, 5]  # doubling, then bisection of (4, 8)
    assert [p["held"] for p in section["probes"]] == [True, True, False, False, False]
    assert [lv.users for lv in summary.levels] == loads  # every probe is a level of one run
    on_disk = json.loads((results / "summary.json").read_text())
    assert on_disk["capacity"]["broke_stage_index"] == 4
    stages = {json.loads(line)["stage_index"] for line in (results / "requests.jsonl").open()}
    assert stages == {0, 1, 2, 3, 4}  # all probes' requests in one requests.jsonl
    for level in summary.levels:  # every probe is a steady level that measured enough
        assert level.steady is True, level.steady_reason
        assert level.requests >= MIN_REQUESTS
        assert level.ramp_s > 0  # its users started over a ramp, not as one wave


@pytest.mark.slow
def test_open_loop_capacity_answers_need(tmp_path: Path) -> None:
    """Open loop over --rate on an engine without delays: every probe holds up to --max-rate,
    so the capacity is --max-rate, not converged, and --need at or below it exits 0."""
    results = tmp_path / "run"
    argv = loadgen_cmd(
        *("capacity", "--sim", "fast", "--slo", "ttft_p95_ms<=1000", "--rate", "4"),
        *("--max-rate", "8", "--max-concurrency", "4", "--need", "8", *AUTO_PROBES),
        *("--input-tokens", "16", "--output-tokens", "16", "--progress", "off"),
        *("--results", str(results)),
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=150, check=False)
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("capacity: 8 req/s (held at --max-rate (8 req/s))")
    assert "need: 8 req/s: enough" in proc.stdout
    assert "first failing probe" not in proc.stdout
    section = read_summary(results).capacity
    assert section is not None
    assert (section["mode"], section["capacity"], section["converged"]) == ("rate", 8, False)
    assert [p["load"] for p in section["probes"]] == [4, 8]  # doubling up to --max-rate
    assert all(p["held"] for p in section["probes"])
    assert (section["held_stage_index"], section["broke_stage_index"]) == (1, None)
    assert section["need"] == 8
    levels = read_summary(results).levels
    assert [lv.users for lv in levels] == [4, 4]  # --max-concurrency serves every probe
    assert all(lv.steady and lv.requests >= MIN_REQUESTS for lv in levels)
