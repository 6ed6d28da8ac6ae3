"""Nothing written is lost: a reused or unwritable results directory and requests cut off by the
run's end, each against real `loadgen swarm` and Locust processes. Ctrl-C, a killed Locust
child and a full disk are cases of the fault matrix (test_fault_matrix.py).

Every run is bounded (a few seconds); assertions are on what the run wrote and its exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.net import free_port, loadgen_cmd, running
from tests.fixtures.swarm import RUN_TIMEOUT_S, run_swarm, swarm_env

CUT_OFF = "cut off: the run ended"


def _records(results: Path) -> list[dict[str, Any]]:
    lines = (results / "requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _locust_cmd(results: Path, host: str, *args: str) -> list[str]:
    locustfile = Path(__file__).resolve().parents[2] / "locustfiles" / "chat.py"
    return [
        *(sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"),
        *("--host", host, "-u", "1", "-t", "1s", "--results", str(results), *args),
    ]


def test_the_results_directory_is_checked_before_any_load(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a directory\n")
    for command in ("swarm", "ui"):
        bad = subprocess.run(
            loadgen_cmd(command, "--sim", "fast", "--results", str(a_file)),
            capture_output=True,
            text=True,
            env=swarm_env(),
            timeout=RUN_TIMEOUT_S,
        )
        assert bad.returncode == 2, bad.stderr
        assert bad.stderr.strip() == f"loadgen: error: --results {a_file}: not a directory"
    results = tmp_path / "r"
    args = ("--sim", "fast", "--users", "2", "--run-time", "1s")
    assert run_swarm(results, *args).returncode == 0
    again = run_swarm(results, *args)
    assert again.returncode == 2 and "pass --overwrite" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    over = run_swarm(results, *args, "--overwrite")
    assert over.returncode == 0, over.stderr
    assert {r["run_id"] for r in _records(results)} == {over.summary().run_id}


def test_plain_locust_refuses_a_used_results_directory(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results = tmp_path / "r"
    results.mkdir()
    (results / "requests.jsonl").write_text("")
    env = swarm_env()
    with running(loadgen_cmd("sim", "--profile", "fast", "--port", str(port)), url + "/v1/models"):
        refused = subprocess.run(
            _locust_cmd(results, url), capture_output=True, text=True, env=env, timeout=60
        )
        assert refused.returncode == 2, refused.stderr
        assert "is not empty" in refused.stderr and "Traceback" not in refused.stderr
        done = subprocess.run(
            _locust_cmd(results, url, "--overwrite"),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert len({r["run_id"] for r in _records(results)}) == 1


def test_requests_cut_off_by_the_end_are_no_errors_with_workers(tmp_path: Path) -> None:
    """Long requests (about 1.5 s each on this profile) are always in flight at the end."""
    run = run_swarm(
        tmp_path / "r",
        *("--sim", "vllm-4090-llama8b", "--users", "4", "--run-time", "4s", "--processes", "2"),
        *("--output-tokens", "100", "--ignore-eos", "--slo", "errors<=0"),
    )
    assert run.returncode == 0, run.stderr
    records = run.records()
    cut = [r for r in records if r["error_detail"] == CUT_OFF]
    assert cut  # kept on record
    assert all(level.errors == 0 for level in run.summary().levels)
    # with what they had read: a first token that came is a TTFT vLLM counted too (its
    # breakdown's client share takes it), and the frames read so far are kept
    started = [r for r in cut if r["t_first_ns"] is not None]
    assert started, cut
    for r in started:
        assert r["http_status"] == 200 and r["error_type"] == "truncated"
        assert r["t_send_ns"] < r["t_first_ns"] <= r["t_last_ns"] <= r["t_end_ns"]
        assert 1 <= r["token_frames"] == len(r["frame_times_ns"]) <= 100
