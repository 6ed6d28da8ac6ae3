"""`loadgen sidecar` as a real process against a real process tree: RSS summed, exit, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.net import loadgen_cmd, running, stop

CHILD_MB = 60
# A parent with two children that each hold CHILD_MB of touched memory; all exit by themselves.
ENGINE_TREE = f"""
import subprocess, sys, time
if len(sys.argv) > 1:
    block = bytearray({CHILD_MB} * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    open(sys.argv[1], "a").write("x")
    time.sleep(60)
else:
    ready = sys.argv[0] + ".ready"
    kids = [subprocess.Popen([sys.executable, sys.argv[0], ready]) for _ in range(2)]
    time.sleep(60)
"""


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.fixture
def engine_tree(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts engine trees (a uniquely named script); every one is stopped at teardown."""
    script = tmp_path / f"engine_tree_{uuid.uuid4().hex[:8]}.py"
    script.write_text(ENGINE_TREE)
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        ready = Path(str(script) + ".ready")
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
        procs.append(proc)
        _wait_for(lambda: ready.exists() and len(ready.read_text()) == 2)
        return proc

    start.script_name = script.name  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        stop(proc)


def test_tree_rss_is_summed_and_duration_ends_it(
    tmp_path: Path, engine_tree: Callable[[], subprocess.Popen[bytes]]
) -> None:
    engine = engine_tree()
    out = tmp_path / "results"
    done = subprocess.run(
        loadgen_cmd(
            "sidecar",
            "--run-id",
            "proc-1",
            "--results",
            str(out),
            "--pid",
            str(engine.pid),
            "--interval",
            "0.2",
            "--duration",
            "2",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = _lines(out / "sidecar.jsonl")
    procs = [line for line in lines if line["kind"] == "process"]
    hosts = [line for line in lines if line["kind"] == "host"]
    assert len(procs) >= 5 and len(procs) == len(hosts)
    assert all(p["root_pid"] == engine.pid and p["n_processes"] == 3 and p["alive"] for p in procs)
    assert min(int(p["rss_bytes"]) for p in procs) > 2 * CHILD_MB * 1024 * 1024  # type: ignore[call-overload]
    assert all(line["run_id"] == "proc-1" for line in lines)
    notices = [line["message"] for line in lines if line["kind"] == "notice"]
    assert any("sampling host and process only" in str(m) for m in notices)  # no GPU here
    assert "engine process tree: peak rss" in done.stdout


def test_engine_exit_is_reported_and_it_reattaches_then_sigterm(
    tmp_path: Path, engine_tree: Callable[[], subprocess.Popen[bytes]]
) -> None:
    name = engine_tree.script_name  # type: ignore[attr-defined]
    out = tmp_path / "results"
    first = engine_tree()
    sidecar_log = tmp_path / "sidecar.log"
    cmd = loadgen_cmd(
        "sidecar",
        "--run-id",
        "proc-2",
        "--results",
        str(out),
        "--process-name",
        name,
        "--interval",
        "0.2",
        "--duration",
        "120",
    )
    with running(cmd, log=sidecar_log) as sidecar:
        path = out / "sidecar.jsonl"
        _wait_for(
            lambda: any(x["kind"] == "process" and x["root_pid"] == first.pid for x in _lines(path))
        )
        stop(first)
        _wait_for(lambda: any(x["kind"] == "process" and not x["alive"] for x in _lines(path)))
        assert sidecar.poll() is None  # still sampling the host
        second = engine_tree()
        _wait_for(
            lambda: any(
                x["kind"] == "process" and x["root_pid"] == second.pid for x in _lines(path)
            )
        )
        sidecar.send_signal(signal.SIGTERM)
        assert sidecar.wait(10) == 0
    lines = _lines(path)
    assert path.read_text().endswith("\n")  # flushed whole lines
    messages = [str(x["message"]) for x in lines if x["kind"] == "notice"]
    assert (
        f"engine process {first.pid} ({name}) exited; waiting for a process named {name!r}"
        in messages
    )
    assert f"attached to {name} pid {second.pid}" in messages
    dead = [x for x in lines if x["kind"] == "process" and not x["alive"]]
    assert len(dead) == 1 and dead[0]["root_pid"] == first.pid
    log = sidecar_log.read_text()
    assert "exited" in log and "ticks" in log  # the notice on stderr, the summary at exit


def test_bad_flags_are_one_line_errors(tmp_path: Path) -> None:
    for args in (
        ["--interval", "0"],
        ["--pid", "1", "--process-name", "x"],
        ["--engine-url", "ftp://x"],
        ["--influx-url", "http://127.0.0.1:9", "--influx-db", "d"],
    ):
        done = subprocess.run(
            loadgen_cmd("sidecar", "--results", str(tmp_path), *args),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, args
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("loadgen: error: "), (
            done.stderr
        )
