"""`loadgen capacity` against llama.cpp's llama-server with 4 parallel slots: the answer is the
slot limit. Up to 4 users every request has a slot; a 5th waits for one to free, so its TTFT
holds a share of a whole answer. Opt-in: `pytest --real-engine`; needs the cache that
`bench/real_llamacpp.sh` builds (llama-server and the Gemma 3 270M GGUF)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.results import read_summary
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.integration.test_real_engine_llamacpp import CACHE, MODEL, SERVER, wait_model_loaded

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(900)]

SLOTS = 4
PRECISION = 0.1
WORKLOAD = ("--input-tokens", "32", "--output-tokens", "48", "--api", "openai")
AUTO_PROBE = ("--min-requests", "30", "--interval", "2s", "--max-step-time", "90s")


@pytest.fixture(scope="module")
def llama_np4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (SERVER.exists() and MODEL.exists()):
        pytest.skip(f"no llama-server/model in {CACHE}: run bench/real_llamacpp.sh once")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-np4") / "server.log"
    cmd = [str(SERVER), "-m", str(MODEL), "--host", LOOPBACK, "--port", str(port)]
    cmd += ["-np", str(SLOTS), "-c", "4096", "-t", "2", "--metrics"]
    cmd += ["--no-jinja", "--chat-template", "gemma"]
    url = f"http://{LOOPBACK}:{port}"
    with running(cmd, ready_url=f"{url}/health", log=log, timeout_s=120):
        wait_model_loaded(url)
        yield url


def loadgen(*args: str) -> subprocess.CompletedProcess[str]:
    argv = loadgen_cmd(*args, *WORKLOAD, "--model", "gemma-3-270m", "--progress", "off")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    sys.stdout.write(proc.stdout)
    return proc


def test_capacity_is_the_slot_count(llama_np4: str, tmp_path: Path) -> None:
    # Within the slots: TTFT at 1..4 users (no request waits for a slot) and how long one lasts
    within = tmp_path / "within"
    proc = loadgen(
        *("swarm", "--host", llama_np4, "--users", "1,2,4", *AUTO_PROBE),
        *("--results", str(within)),
    )
    assert proc.returncode == 0, proc.stderr
    levels = read_summary(within).levels
    assert [lv.users for lv in levels] == [1, 2, 4]
    ttft_p95_ms = max(lv.ttft_p95_ms or 0.0 for lv in levels)
    e2e_ms = levels[-1].e2e_p50_ms or 0.0
    # A 5th user's request waits for the next of 4 answers to end: about e2e/4 more on average
    limit_ms = ttft_p95_ms + e2e_ms / 8
    print(f"TTFT p95 within the slots {ttft_p95_ms:.0f} ms, E2E p50 at 4 users {e2e_ms:.0f} ms")

    results = tmp_path / "capacity"
    proc = loadgen(
        *("capacity", "--host", llama_np4, "--slo", f"ttft_p95_ms<={limit_ms:.0f}"),
        *("--users", "2", "--max-users", "16", "--precision", f"{PRECISION:g}"),
        *AUTO_PROBE,
        *("--results", str(results)),
    )
    assert proc.returncode == 0, proc.stderr
    section = read_summary(results).capacity
    assert section is not None, proc.stderr
    probes = [(p["load"], p["held"], [b["slo"] for b in p["breaches"]]) for p in section["probes"]]
    print(json.dumps(probes))
    assert abs(section["capacity"] - SLOTS) <= max(1.0, PRECISION * SLOTS), probes
    assert section["converged"], section["reason"]
