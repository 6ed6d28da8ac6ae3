"""Nothing written is lost: Ctrl-C, a killed Locust child, a full disk, a reused directory and
requests cut off by the run's end, each against real `loadgen swarm` and Locust processes.

Every run is bounded (a few seconds); assertions are on what the run wrote and its exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadgen.results import read_requests, read_summary
from tests.fixtures.net import free_port, loadgen_cmd, running
from tests.fixtures.swarm import RUN_TIMEOUT_S, run_swarm, swarm_env

CUT_OFF = "cut off: the run ended"
FIRST_RECORDS_S = 60.0  # bound on the wait for a run's first records (not a timing assertion)


def _start(results: Path, *args: str) -> subprocess.Popen[str]:
    """`loadgen swarm` in its own process group, as a terminal starts it."""
    cmd = loadgen_cmd("swarm", "--results", str(results), "--progress", "off", *args)
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=swarm_env(),
        start_new_session=True,
    )


def _wait_for_records(proc: subprocess.Popen[str], results: Path, count: int = 20) -> None:
    path = results / "requests.jsonl"
    deadline = time.monotonic() + FIRST_RECORDS_S
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count} records in {path} (exit {proc.poll()})")


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


def _records(results: Path) -> list[dict[str, Any]]:
    lines = (results / "requests.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _assert_seqs_contiguous(records: list[dict[str, Any]]) -> None:
    """Every request sent has its record: seqs 0..n-1 per worker."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for record in records:
        seqs[record["worker"]].append(record["seq"])
    for worker, got in seqs.items():
        assert sorted(got) == list(range(len(got))), worker


@pytest.mark.parametrize("processes", [1, 2])
def test_double_ctrl_c_keeps_every_record_and_writes_the_summary(
    tmp_path: Path, processes: int
) -> None:
    results = tmp_path / "r"
    extra = ["--processes", str(processes)] if processes > 1 else []
    proc = _start(results, "--sim", "fast", "--users", "4", "--run-time", "60s", *extra)
    _wait_for_records(proc, results)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.2)  # a second Ctrl-C while the first one is being handled
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = _finish(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = read_summary(results)
    assert not summary.complete and summary.end_reason == "interrupted (SIGINT)"
    assert summary.levels and summary.levels[0].errors == 0
    assert (results / "meta.json").is_file() and (results / "locust_llm_stats.csv").is_file()
    records = _records(results)
    assert summary.requests_recorded == len(records)
    assert len({r["worker"] for r in records}) == processes
    _assert_seqs_contiguous(records)


def test_a_killed_locust_child_leaves_a_summary_of_its_records(tmp_path: Path) -> None:
    results = tmp_path / "r"
    proc = _start(results, "--sim", "fast", "--users", "1,2", "--step-time", "30s")
    _wait_for_records(proc, results)
    children = psutil.Process(proc.pid).children()
    (locust,) = [c for c in children if "locust" in " ".join(c.cmdline())]
    locust.send_signal(signal.SIGKILL)
    _, stderr = _finish(proc)
    assert proc.returncode == 1, stderr
    assert "the Locust process was killed by SIGKILL" in stderr
    summary = read_summary(results)
    assert not summary.complete
    assert summary.end_reason == "the Locust process was killed by SIGKILL"
    assert summary.requests_recorded == len(_records(results))
    assert summary.levels[0].users == 1 and summary.levels[0].requests > 0
    meta = json.loads((results / "meta.json").read_text())
    assert meta["model"] == "sim-fast" and meta["start_unix_ns"] < meta["end_unix_ns"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_stops_the_run_with_one_line(small_disk: Path) -> None:
    results = small_disk / "r"
    run = run_swarm(results, "--sim", "fast", "--users", "4", "--run-time", "60s")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    cause = f"loadgen: error: cannot write {results / 'requests.jsonl'}: No space left on device"
    assert sum(line.startswith(cause) for line in lines) == 1
    assert any("the summary above is not saved" in line for line in lines)
    kept = len(read_requests(results))  # its last line may be torn by the full disk
    table = run.stdout.splitlines()
    assert table[1].split()[:2] == ["4", str(kept)]  # the table covers every record kept


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
    assert any(r["error_detail"] == CUT_OFF for r in records)  # kept on record
    assert all(level.errors == 0 for level in run.summary().levels)
