"""`loadgen sidecar` against the real simulator: /sim/gpu VRAM, /metrics and /api/ps, under load."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.levels import ResourceSeries, vram_per_tick
from loadgen.records import EngineSample, GpuSample, Notice
from loadgen.results import read_sidecar
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

# A vLLM-like simulated engine slow enough (50 ms a step) for 5 Hz sampling to see requests run.
SLOW_VLLM = """
engine = "vllm"
scheduler = "continuous"
model = "sim-slow"
max_running = 8
kv_blocks = 1000
step_base_ms = 50.0
eos_min_tokens = 30
eos_max_tokens = 30
[gpu]
weights_bytes = 16_000_000_000
overhead_bytes = 100_000_000
kv_block_bytes = 50_000_000
"""


@pytest.fixture
def sim_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    profile = request.param
    if profile.endswith(".toml"):
        path = tmp_path / profile
        path.write_text(SLOW_VLLM)
        profile = str(path)
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    with running(
        loadgen_cmd("sim", "--profile", profile, "--port", str(port)),
        f"{url}/sim/gpu",
        log=tmp_path / "sim.log",
    ):
        yield url


def _sidecar(url: str, out: Path, seconds: float) -> subprocess.Popen[str]:
    cmd = loadgen_cmd(
        "sidecar",
        "--run-id",
        "sim-1",
        "--results",
        str(out),
        "--engine-url",
        f"{url}/v1",
        "--interval",
        "0.2",
        "--duration",
        str(seconds),
    )
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sim_url", ["fast"], indirect=True)
def test_generic_sim_is_scraped_on_all_three_endpoints(sim_url: str, tmp_path: Path) -> None:
    proc = _sidecar(sim_url, tmp_path, 1.5)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"engine sim at {sim_url}: scraping /sim/gpu, /api/ps, /metrics" in stderr
    samples = read_sidecar(tmp_path)
    gpus = [s for s in samples if isinstance(s, GpuSample)]
    engines = [s for s in samples if isinstance(s, EngineSample)]
    with urllib.request.urlopen(f"{sim_url}/sim/gpu", timeout=5) as resp:
        truth = json.loads(resp.read())["gpus"][0]
    assert len(gpus) >= 5 and {g.source for g in gpus} == {"sim"}
    assert {g.vram_used_bytes for g in gpus} == {truth["vram_used_bytes"]}  # idle: constant
    assert {g.vram_total_bytes for g in gpus} == {truth["vram_total_bytes"]}
    ps = [e for e in engines if e.model_size_bytes is not None]
    metrics = [e for e in engines if e.requests_running is not None]
    assert len(ps) == len(metrics) == len(gpus)
    assert ps[0].model_size_bytes == ps[0].model_size_vram_bytes == truth["vram_used_bytes"]
    assert metrics[0].kv_cache_usage_ratio == 0.0 and {e.engine for e in engines} == {"sim"}
    assert "gpu 0 Simulated GPU (sim): vram_used" in stdout


def _chat(url: str, results: list[int]) -> None:
    body = json.dumps(
        {
            "model": "sim-slow",
            "stream": True,
            "max_tokens": 30,
            "messages": [{"role": "user", "content": "hello there " * 50}],
        }
    ).encode()
    req = urllib.request.Request(
        f"{url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        results.append(len(resp.read()))


@pytest.mark.parametrize("sim_url", ["slow-vllm.toml"], indirect=True)
def test_vram_and_running_requests_follow_the_load(sim_url: str, tmp_path: Path) -> None:
    proc = _sidecar(sim_url, tmp_path, 6.0)
    jsonl = tmp_path / "sidecar.jsonl"
    try:
        while not (jsonl.exists() and jsonl.read_text().count('"kind": "gpu"') >= 3):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        done: list[int] = []
        users = [threading.Thread(target=_chat, args=(sim_url, done)) for _ in range(4)]
        for user in users:
            user.start()
        for user in users:
            user.join(30)
        assert len(done) == 4
    finally:
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"engine vllm at {sim_url}: scraping /sim/gpu, /metrics" in stderr
    samples = read_sidecar(tmp_path)
    engines = [s for s in samples if isinstance(s, EngineSample)]
    assert max(e.requests_running or 0.0 for e in engines) >= 2
    assert max(e.kv_cache_usage_ratio or 0.0 for e in engines) > 0.0
    gpus = [s for s in samples if isinstance(s, GpuSample)]
    first, last = gpus[0].wall_unix_ns, gpus[-1].wall_unix_ns
    window = (first + 1, last + 1)
    level = ResourceSeries.of(samples).resources(first, window, window)
    assert level.vram_idle_bytes == gpus[0].vram_used_bytes
    assert level.vram_peak_bytes is not None and level.vram_idle_bytes is not None
    assert level.vram_peak_bytes > level.vram_idle_bytes  # KV blocks held while users ran
    assert vram_per_tick(samples)[1] == "sim"


def test_engine_that_starts_late_is_found_and_sigterm_flushes(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    cmd = loadgen_cmd(
        "sidecar",
        "--run-id",
        "late",
        "--results",
        str(tmp_path),
        "--engine-url",
        url,
        "--interval",
        "0.2",
        "--duration",
        "120",
    )
    log = tmp_path / "sidecar.log"
    with running(cmd, log=log) as sidecar:
        jsonl = tmp_path / "sidecar.jsonl"
        while "retrying" not in (jsonl.read_text() if jsonl.exists() else ""):
            assert sidecar.poll() is None
            time.sleep(0.1)
        sim = loadgen_cmd("sim", "--profile", "fast", "--port", str(port))
        with running(sim, f"{url}/sim/gpu", log=tmp_path / "sim.log"):
            while '"source": "sim"' not in jsonl.read_text():
                assert sidecar.poll() is None
                time.sleep(0.1)
        sidecar.send_signal(signal.SIGTERM)
        assert sidecar.wait(10) == 0
    notices = [s.message for s in read_sidecar(tmp_path) if isinstance(s, Notice)]
    assert f"no /sim/gpu, /api/ps or /metrics answers at {url} yet; retrying" in notices
    assert f"engine sim at {url}: scraping /sim/gpu, /api/ps, /metrics" in notices
    assert "ticks" in log.read_text()  # the exit summary: it flushed and ended normally
