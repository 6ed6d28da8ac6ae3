"""`loadgen sim` as a command: bad input is one line and exit 2; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.net import free_port, loadgen_cmd


def run_sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(loadgen_cmd("sim", *args), capture_output=True, text=True, timeout=30)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadgen: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('engine = "vllm"\nstep_base_ms = [1', ("bad profile file",)),
        ('engine = "vllm"\nturbo = true\n', ("unknown key 'turbo'",)),
        ('step_base_ms = "fast"\n', ("step_base_ms must be float",)),
        ('scheduler = "lottery"\n', ("scheduler must be fifo|continuous",)),
        ("max_running = 0\n", ("max_running must be >= 1",)),
        ("[gpu]\nweights_bytes = 1.5\n", ("weights_bytes must be int",)),
        ("step_per_seq_ms = -1.0\n", ("must be >= 0",)),
    ],
)
def test_bad_profile_files(tmp_path: Path, toml: str, words: tuple[str, ...]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(toml)
    assert_one_line_error(run_sim("--profile", str(path), "--port", "0"), *words)


def test_unknown_profile_and_bad_flags(tmp_path: Path) -> None:
    assert_one_line_error(run_sim("--profile", "gpt-9"), "unknown profile 'gpt-9'", "fast")
    assert_one_line_error(run_sim("--profile", str(tmp_path / "none.toml")), "not found")
    assert_one_line_error(run_sim("--faults", "explode=0.5", "--port", "0"), "--faults")
    assert_one_line_error(run_sim("--faults", "stall=0.5:forever", "--port", "0"), "duration")
    assert_one_line_error(run_sim("--faults", "http500=0.7,cut=0.7", "--port", "0"), "more than 1")
    assert_one_line_error(run_sim("--port", "70000"), "--port")


def test_help_documents_the_fault_spec() -> None:
    proc = run_sim("--help")
    assert proc.returncode == 0
    for word in ("http500", "busy503", "rate429", "reset", "stall", "malformed", "cut", "--seed"):
        assert word in proc.stdout


def test_port_in_use_is_one_line() -> None:
    port = free_port()
    first = subprocess.Popen(
        loadgen_cmd("sim", "--port", str(port)),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert first.stdout is not None and "listening on" in first.stdout.readline()
        assert_one_line_error(run_sim("--port", str(port)), "cannot listen")
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(10)


def test_port_zero_announces_the_port_and_sigterm_flushes_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    proc = subprocess.Popen(
        loadgen_cmd("sim", "--profile", "fast", "--port", "0", "--truth", str(truth)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"loadgen sim: listening on (http://127\.0\.0\.1:(\d+)) \(profile fast\)\n", line
        )
        assert match and int(match.group(2)) > 0, line
        body = json.dumps({"model": "m", "prompt": "hi", "stream": False}).encode()
        with urllib.request.urlopen(match.group(1) + "/api/generate", body, timeout=10) as resp:
            assert json.loads(resp.read())["done"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["route"] == "/api/generate" and rows[0]["status"] == 200
