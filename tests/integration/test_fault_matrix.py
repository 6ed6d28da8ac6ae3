"""The fault matrix: every fault loadgen promises to survive (docs/reliability.md), each run for
real against the simulator and a real influxd. Each case asserts the exit code and the message,
and that records, summary and InfluxDB points agree with the simulator's truth file line for
line (tests/fixtures/truth_match.py).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from loadgen.results import read_summary
from loadgen.sim.faults import FAULT_NAMES
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.fixtures.swarm import swarm_env
from tests.fixtures.truth_match import (
    Truth,
    match_influx,
    match_records,
    match_summary,
    records_of,
    records_of_torn,
)

pytestmark = pytest.mark.slow

# Every fault of the simulator in one run, each on 8 % of the requests; stall pauses 1 s
# against a 0.3 s stall timeout, rate429 asks for a 0.2 s pause.
PARAMS = {"stall": ":1s", "rate429": ":0.2s"}
ALL_FAULTS = ",".join(f"{name}=0.08{PARAMS.get(name, '')}" for name in FAULT_NAMES)
RUN_TIMEOUT_S = 120


@dataclass
class Run:
    """One `loadgen swarm` against a simulator with a truth file, writing to influxd."""

    tmp: Path
    influx: Influxd
    db: str
    args: list[str] = field(default_factory=list)

    @property
    def results(self) -> Path:
        return self.tmp / "run"

    @property
    def truth(self) -> Path:
        return self.tmp / "truth.jsonl"

    def command(self, *args: str) -> list[str]:
        influx = ["--influx-url", self.influx.url, "--influx-flavour", "v1", "--influx-db", self.db]
        common = ["--results", str(self.results), "--progress", "off", "--seed", "7"]
        return loadgen_cmd("swarm", *common, "--output-tokens", "16", *influx, *args)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**swarm_env(), **(env or {})},
            start_new_session=True,
        )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"the run did not stop by itself: {err[-2000:]}") from None
    return proc.returncode, out, err


def wait_records(
    run: Run, count: int, proc: subprocess.Popen[str], timeout_s: float = 60, file: str = ""
) -> None:
    """Until the run has `count` truth rows (it is under way and serving), or `count` lines in
    the results file `file`."""
    path = run.results / file if file else run.truth
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        text = path.read_text() if path.is_file() else ""
        if text.count("\n") >= count:
            return
        time.sleep(0.1)
    raise AssertionError("the run never got under way")


def check_truth(run: Run, lost_in_flight: int = 0, engine_killed_in_flight: int = 0) -> None:
    """Records, summary and InfluxDB agree with the truth file."""
    records = records_of(run.results)
    assert records, "no record written"
    match_records(records, Truth.read(run.truth), lost_in_flight, engine_killed_in_flight)
    match_summary(read_summary(run.results), records)
    match_influx(run.influx, run.db, records)


@pytest.fixture
def run(influxd: tuple[Influxd, str], tmp_path: Path) -> Run:
    server, db = influxd
    return Run(tmp_path, server, db)


@contextlib.contextmanager
def sim_process(run: Run) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A simulator of our own (so the test can kill it), writing the truth file."""
    port = free_port()
    cmd = loadgen_cmd("sim", "--port", str(port), "--truth", str(run.truth), "--seed", "7")
    url = f"http://{LOOPBACK}:{port}"
    with running(cmd, ready_url=f"{url}/v1/models", log=run.tmp / "sim.log") as proc:
        yield proc, url


def test_every_sim_fault_fails_the_error_gate_and_loses_nothing(run: Run) -> None:
    sim = ["--sim", "fast", "--sim-faults", ALL_FAULTS, "--sim-truth", str(run.truth)]
    code, _, err = finish(run.start(*sim, "--users", "3", "--run-time", "4s",
                                    "--stall-timeout", "0.3s"))  # fmt: skip
    assert code == 1, err[-3000:]
    assert "error_rate" in err and "Traceback" not in err, err[-3000:]
    faults = {row["fault"] for row in Truth.read(run.truth).rows.values()}
    assert faults == {*FAULT_NAMES, None}  # each one struck at least once
    check_truth(run)


def test_influxdb_down_mid_run_spills_and_replays_every_point(
    influxd_factory: Callable[..., Influxd], tmp_path: Path
) -> None:
    server = influxd_factory()
    run = Run(tmp_path, server, server.create_db())
    # 3 s: influxd is stopped after 50 requests (well inside the first second at --sim fast), so
    # the rest of the run, thousands of requests, has no database to write to.
    proc = run.start("--sim", "fast", "--sim-truth", str(run.truth), "--users", "2",
                     "--run-time", "3s")  # fmt: skip
    wait_records(run, 50, proc)
    server.stop()
    code, _, err = finish(proc)
    assert code == 0, err[-3000:]
    assert "InfluxDB missed points" in err and "loadgen replay" in err, err[-3000:]
    server.start()
    replay = loadgen_cmd("replay", str(run.results), "--influx-url", server.url, "--influx-db",
                         run.db)  # fmt: skip
    done = subprocess.run(replay, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    check_truth(run)


def test_engine_death_is_dated_counted_and_fails_the_run(run: Run) -> None:
    with sim_process(run) as (sim, url):
        proc = run.start("--host", url, "--users", "2", "--run-time", "6s")
        wait_records(run, 50, proc)
        sim.send_signal(signal.SIGKILL)  # a crash: no goodbye, in-flight requests die with it
        code, _, err = finish(proc)
    assert code == 1, err[-3000:]
    summary = read_summary(run.results)
    assert summary.engine_unreachable_unix_ns is not None
    assert summary.engine_unreachable_errors >= 3
    (line,) = [ln for ln in err.splitlines() if "the engine became unreachable" in ln]
    assert f"{summary.engine_unreachable_errors} connect errors" in line
    assert "Z (" in line and "s into the run)" in line  # UTC time, seconds into the run
    assert summary.levels[0].errors_by_type.get("connect", 0) > 0  # counted in the level
    check_truth(run, engine_killed_in_flight=2)  # one request per user


def test_a_starved_generator_fails_on_event_loop_lag(run: Run) -> None:
    sim = ["--sim", "fast", "--sim-truth", str(run.truth)]
    code, _, err = finish(run.start(*sim, "--users", "2", "--run-time", "4s", "--interval", "1s",
                                    "--saturation-lag-ms", "0.001",
                                    env={"LOADGEN_ALLOW_SATURATED": "0"}))  # fmt: skip
    assert code == 1, err[-3000:]
    assert "loadgen: load generator saturated:" in err, err[-3000:]
    assert "event-loop lag p99 above 0.001 ms for" in err, err[-3000:]
    generator = read_summary(run.results).generator
    assert generator is not None and generator.saturated
    (worker,) = generator.workers.values()
    assert "lag" in worker.saturated_by and worker.lag_busy_intervals_max >= 2
    check_truth(run)


def locust_child(proc: subprocess.Popen[str]) -> psutil.Process:
    """The Locust process `loadgen swarm` started (the master with --processes)."""
    for child in psutil.Process(proc.pid).children():
        if child.cmdline()[1:3] == ["-m", "locust"]:
            return child
    raise AssertionError("no Locust child")


@pytest.mark.parametrize(("processes", "presses"), [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_ctrl_c_keeps_every_record_and_writes_the_summary(
    run: Run, processes: int, presses: int
) -> None:
    sim = ["--sim", "fast", "--sim-truth", str(run.truth), "--users", "4", "--run-time", "60s"]
    proc = run.start(*sim, *(["--processes", str(processes)] if processes > 1 else []))
    wait_records(run, 100, proc)
    for _ in range(presses):  # a second Ctrl-C while the first one is being handled
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        time.sleep(0.2)
    code, _, err = finish(proc)
    assert code == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    summary = read_summary(run.results)
    assert not summary.complete and summary.end_reason == "interrupted (SIGINT)"
    assert summary.levels and summary.levels[0].errors == 0
    for name in ("meta.json", "locust_stats.csv", "locust_llm_stats.csv"):
        assert (run.results / name).is_file(), name
    assert len({r["worker"] for r in records_of(run.results)}) == processes
    check_truth(run)


def test_ctrl_c_while_a_master_waits_for_its_workers(run: Run) -> None:
    port = free_port()
    proc = run.start("--sim", "fast", "--master", "--expect-workers", "1", "--master-port",
                     str(port), "--master-bind-host", LOOPBACK)  # fmt: skip
    deadline = time.monotonic() + 60
    while not _listening(port):  # the master is up and waiting
        assert time.monotonic() < deadline and proc.poll() is None, "no master"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err[-3000:]
    assert "interrupted before the run started" in err and "Traceback" not in err, err[-3000:]


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
        return True
    return False


def test_a_killed_locust_child_still_gets_a_summary(run: Run) -> None:
    proc = run.start("--sim", "fast", "--sim-truth", str(run.truth), "--users", "1,3",
                     "--step-time", "30s")  # fmt: skip
    wait_records(run, 100, proc)
    locust_child(proc).kill()  # as the OOM killer would
    code, out, err = finish(proc)
    assert code == 1, err[-3000:]
    assert "loadgen: error: the run is incomplete: the Locust process was killed by SIGKILL" in err
    assert "influx: reloaded" in out  # the points it had not sent yet
    summary = read_summary(run.results)
    assert not summary.complete
    assert summary.end_reason == "the Locust process was killed by SIGKILL"
    assert summary.levels[0].users == 1 and summary.levels[0].requests > 0
    meta = read_summary(run.results).meta
    assert meta.model == "sim-fast" and meta.start_unix_ns < meta.end_unix_ns  # type: ignore[operator]
    check_truth(run, lost_in_flight=3)  # requests in flight died with it


def test_the_workers_of_a_killed_master_stop_too(run: Run) -> None:
    proc = run.start("--sim", "fast", "--sim-truth", str(run.truth), "--users", "4",
                     "--run-time", "60s", "--processes", "2")  # fmt: skip
    wait_records(run, 100, proc, file="requests.jsonl")  # the workers' records reached it
    master = locust_child(proc)
    workers = master.children()
    assert len(workers) == 2
    master.kill()
    # Without a watch they would go on until Locust's 60 s master heartbeat timeout.
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, "orphaned workers kept sending load"
    code, _, err = finish(proc)
    assert code == 1 and "killed by SIGKILL" in err, err[-3000:]
    assert not read_summary(run.results).complete


def _mount_small_disk(mount: Path) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _file_size_limit() -> None:
    """Writes past 256 KiB fail (EFBIG) in this process and its children: a full disk where
    the test may not mount one. Python ignores SIGXFSZ, so the write itself fails."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_a_full_disk_stops_the_run_with_one_line(run: Run, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = _mount_small_disk(disk)
    results = disk / "r"
    truth = tmp_path / "truth.jsonl"  # off the small disk
    cmd = run.command("--sim", "fast", "--sim-truth", str(truth), "--users", "4",
                      "--run-time", "60s")  # fmt: skip
    cmd[cmd.index("--results") + 1] = str(results)
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=swarm_env(),
            start_new_session=True,
            preexec_fn=None if mounted else _file_size_limit,
        )
        code, out, err = finish(proc)
        assert code == 1, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        cause = f"loadgen: error: cannot write {results / 'requests.jsonl'}: "
        causes = [line for line in err.splitlines() if line.startswith(cause)]
        assert len(causes) == 1, err[-3000:]
        assert causes[0].endswith(
            ("No space left on device; stopping the run", "File too large; stopping the run")
        ), causes
        kept = [r for r in records_of_torn(results)]
        assert out.splitlines()[1].split()[:2] == ["4", str(len(kept))]  # the table: all kept
        # Each record kept matches the truth. Lost, with no disk to go to: the failed write, what
        # the other users finished while the stop took hold, and the requests it cut off.
        lost = 2 * 4 + 1
        match_records(kept, Truth.read(truth), lost_in_flight=lost)
        match_influx(run.influx, run.db, kept, extra_ok=lost)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
