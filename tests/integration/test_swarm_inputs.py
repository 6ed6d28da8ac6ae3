"""Bad input to `loadgen swarm`: one line on stderr, exit 2, no traceback, before any load."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.net import free_port, loadgen_cmd

CASES = {
    "users-not-a-number": (["--users", "1,ten"], "--users"),
    "users-zero": (["--users", "0"], "--users"),
    "bad-duration": (["--run-time", "soon"], "--run-time"),
    "warmup-too-long": (["--users", "1,2", "--step-time", "2s", "--warmup", "5s"], "--warmup"),
    "bad-slo": (["--slo", "ttft_p95_ms<<5"], "--slo"),
    "unknown-slo-metric": (["--slo", "happiness>=1"], "unknown --slo metric"),
    "missing-dataset": (["--dataset", "/nonexistent/prompts.jsonl"], "prompts.jsonl"),
    "rate-with-levels": (["--rate", "5", "--users", "1,2"], "--rate"),
    "bad-client": (["--client", "curl"], "--client"),
    "no-target": ([], "no target"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_flags_exit_2_with_one_line(case: str, tmp_path: Path) -> None:
    args, needle = CASES[case]
    if case != "no-target":
        args = [*args, "--host", f"http://127.0.0.1:{free_port()}"]
    proc = subprocess.run(
        loadgen_cmd("swarm", "--results", str(tmp_path / "r"), *args),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadgen: error:"), proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing ran


def test_unreachable_host_is_bad_input(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.run(
        loadgen_cmd("swarm", "--host", f"http://127.0.0.1:{port}", "--results", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    url = f"http://127.0.0.1:{port}/version"
    assert (
        proc.stderr.strip() == f"loadgen: error: cannot reach {url}: [Errno 111] Connection refused"
    )


def test_bad_dataset_line_is_bad_input(tmp_path: Path) -> None:
    dataset = tmp_path / "prompts.jsonl"
    dataset.write_text('{"prompt": "hello"}\n{not json\n')
    proc = subprocess.run(
        loadgen_cmd(
            "swarm", "--sim", "fast", "--dataset", str(dataset), "--results", str(tmp_path / "r")
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "prompts.jsonl" in proc.stderr
    assert "Traceback" not in proc.stderr
