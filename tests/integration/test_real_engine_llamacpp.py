"""llama.cpp's own llama-server (a real engine) under a tiny `loadgen swarm`, checked against the
server's usage, `timings` and /metrics. Opt-in: `pytest --real-engine`; needs the cache that
`bench/real_llamacpp.sh` builds (llama-server and the Gemma 3 270M GGUF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(600)]

CACHE = Path(os.environ.get("LOADGEN_ENGINES_CACHE", Path.home() / ".cache/loadgen-engines"))
SERVER = CACHE / "build-server/bin/llama-server"
MODEL = CACHE / "gemma-3-270m-q4_k_m.gguf"
CHECKS = Path(__file__).resolve().parents[2] / "bench/llamacpp_checks.py"
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (SERVER.exists() and MODEL.exists()):
        pytest.skip(f"no llama-server/model in {CACHE}: run bench/real_llamacpp.sh once")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [
        str(SERVER),
        "-m",
        str(MODEL),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "-np",
        "2",
        "-c",
        "2048",
        "-t",
        "2",
        "--metrics",
        "--no-jinja",
        "--chat-template",
        "gemma",
    ]
    url = f"http://{LOOPBACK}:{port}"
    with running(cmd, ready_url=f"{url}/health", log=log, timeout_s=120):
        wait_model_loaded(url)
        yield url


def wait_model_loaded(url: str, timeout_s: float = 120.0) -> None:
    """llama-server answers /health with 503 while it loads the model, 200 once it can serve."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except urllib.error.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not load its model within {timeout_s} s")


def counter(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_probe_agrees_with_server_usage_and_timings(llama_server: str) -> None:
    for extra in ([], ["--no-usage", "--concurrency", "2"]):  # usage chunk, then timings only
        out = subprocess.run(
            [
                sys.executable,
                str(CHECKS),
                "probe",
                llama_server,
                "--requests",
                "2",
                "--max-tokens",
                str(MAX_TOKENS),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        rows = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        assert len(rows) == 2
        for row in rows:
            assert row["role_only_first"] and row["n_out_source"] == "usage"
            assert row["n_out"] == row["predicted_n"] == row["frames"]
            assert row["ttft_ms"] >= row["prompt_ms"]
        assert "client TPOT / server" in out.stdout


def test_swarm_counts_match_server_metrics(llama_server: str, tmp_path: Path) -> None:
    predicted_before = counter(llama_server, "llamacpp:tokens_predicted_total")
    out = subprocess.run(
        loadgen_cmd(
            "swarm",
            "--host",
            llama_server,
            "--api",
            "openai",
            "--model",
            "gemma-3-270m",
            "--users",
            "1,2",
            "--step-time",
            "15s",
            "--warmup",
            "1s",
            "--input-tokens",
            "16",
            "--output-tokens",
            str(MAX_TOKENS),
            "--progress",
            "off",
            "--results",
            str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    predicted = counter(llama_server, "llamacpp:tokens_predicted_total") - predicted_before
    recs = [json.loads(x) for x in (tmp_path / "requests.jsonl").open()]
    ok = [r for r in recs if r["ok"]]
    cut = [r for r in recs if not r["ok"]]
    assert ok, "no request finished"
    assert all("run ended" in (r["error_detail"] or "") for r in cut)  # only the stop cuts
    for r in ok:
        assert r["n_out_source"] == "usage" and r["finish_reason"] in ("length", "stop")
        assert r["n_out"] == len(r["frame_times_ns"]) <= MAX_TOKENS  # one frame per token
        assert r["t_send_ns"] < r["t_first_ns"] <= r["t_last_ns"] <= r["t_end_ns"]
    # Every token the server predicted is in an ok record, except those of requests the stop cut
    sum_out = sum(r["n_out"] for r in ok)
    seen = f"server predicted {predicted}, ok records {sum_out}, cut {len(cut)}"
    assert sum_out <= predicted <= sum_out + MAX_TOKENS * len(cut), seen
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [lv["users"] for lv in summary["levels"]] == [1, 2]
