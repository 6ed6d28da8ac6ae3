"""`loadgen swarm` against the simulator with Ollama's four capacity traps switched on
(tests/fixtures/ollama_traps.py): each is named in the console and in summary.json."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.diagnostics import RELOAD_LOAD_MS, is_refused
from loadgen.records import RequestRecord
from loadgen.slots import QUEUE_SHARE
from tests.fixtures.net import loadgen_cmd
from tests.fixtures.ollama_traps import SLOTS, VRAM_FRACTION, write_profile
from tests.fixtures.sim import start_sim
from tests.fixtures.swarm import SwarmRun, run_swarm

USERS = (1, 3, 8)  # alone (reloads), queued within max_queue, beyond it (refusals)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmRun]:
    tmp = tmp_path_factory.mktemp("traps")
    profile = write_profile(tmp)
    with start_sim(str(profile), "--time-scale", "0.5", log_dir=tmp) as sim:
        yield run_swarm(
            tmp / "run",
            *("--host", sim.url, "--api", "ollama", "--users", ",".join(map(str, USERS))),
            *("--step-time", "2s", "--warmup", "0.5s", "--max-error-rate", "1"),
            *("--input-tokens", "16", "--output-tokens", "16", "--ignore-eos"),
        )


def test_each_trap_is_one_console_line(run: SwarmRun) -> None:
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("diagnostic: ")]
    assert len(lines) == 4, run.stdout
    refused, slots, reloads, offload = lines
    assert "requests refused as busy (HTTP 503, queue full)" in refused
    assert refused.endswith("at level 2 (8 users); raise OLLAMA_MAX_QUEUE")
    assert slots.startswith(f"diagnostic: ≈ {SLOTS} parallel slots (from Ollama's queue share")
    assert slots.endswith("(OLLAMA_NUM_PARALLEL)")
    assert "model reloads (load_duration > 100 ms)" in reloads and "OLLAMA_KEEP_ALIVE" in reloads
    assert offload.startswith(f"diagnostic: the model is partly on the CPU: {VRAM_FRACTION:.0%}")


def test_summary_counts_match_the_records(run: SwarmRun) -> None:
    diagnostics = run.summary().diagnostics
    assert diagnostics is not None
    records = [RequestRecord.from_dict(r) for r in run.records()]
    refused = [sum(is_refused(r) for r in records if r.stage_index == i) for i in range(3)]
    assert [lv.refused for lv in diagnostics.levels] == refused
    assert refused[0] == refused[1] == 0 < refused[2] == diagnostics.refused
    timed = sorted((r for r in records if r.ollama), key=lambda r: r.wall_send_unix_ns)
    slow = [r for r in timed[1:] if r.ollama and r.ollama.load_duration_ns > RELOAD_LOAD_MS * 1e6]
    assert diagnostics.reloads == len(slow) == sum(lv.reloads for lv in diagnostics.levels)
    assert diagnostics.levels[0].reloads > 0  # a lone user: the model unloads between requests
    assert (diagnostics.parallel_slots, diagnostics.parallel_slots_source) == (SLOTS, QUEUE_SHARE)
    assert diagnostics.gpu_fraction == VRAM_FRACTION
    assert [f.kind for f in diagnostics.findings] == [
        "refused",
        "parallel_slots",
        "model_reload",
        "cpu_offload",
    ]


def test_report_lists_each_finding(run: SwarmRun, tmp_path: Path) -> None:
    """`loadgen report` lists the findings; the DOM a real Chromium builds holds them."""
    out = tmp_path / "report"
    done = subprocess.run(
        loadgen_cmd("report", str(run.results), "--out", str(out)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    diagnostics = run.summary().diagnostics
    assert diagnostics is not None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    flags = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run")
    profile = f"--user-data-dir={tmp_path / 'chromium-profile'}"
    dom = subprocess.run(
        [chromium, *flags, profile, "--dump-dom", (out / "report.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    (listed,) = re.findall(r'<ul class="diagnostics">(.*?)</ul>', dom, flags=re.S)
    items = re.findall(r"<li>(.*?)</li>", listed, flags=re.S)
    texts = [html.unescape(re.sub(r"<[^>]+>", "", item)).split(": ", 1)[1] for item in items]
    assert texts == [finding.text for finding in diagnostics.findings]
