"""`loadgen swarm --sidecar`: a `loadgen sidecar` child process for the length of one run.

It samples the target (the --sim server's /sim/gpu, an engine's /metrics or /api/ps), NVIDIA
GPUs and the engine's process tree into <results>/sidecar.jsonl, with the swarm's run_id and
engine label, and writes to the swarm's InfluxDB. It is always stopped with SIGTERM. No locust.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadgen.errors import LoadgenError
from loadgen.results import SIDECAR_FILE, SIDECAR_LOG
from loadgen.run.target import TargetInfo
from loadgen.sidecar.launch import sidecar_argv

FIRST_SAMPLE_TIMEOUT_S = 20.0  # its first tick is the idle baseline: wait for it before load
POLL_S = 0.05
STOP_GRACE_S = 10.0  # after SIGTERM it flushes (InfluxDB for at most 1 s) and exits
SAFETY_MARGIN_S = 600.0  # --duration beyond the plan, should this process die without stopping it


@dataclass(frozen=True, slots=True)
class SidecarPlan:
    """What --sidecar asked for; `pid` None means: the --sim server's, else no process tree."""

    pid: int | None
    process_name: str | None
    interval_s: float


def check_sidecar(opts: dict[str, Any], interval_s: float) -> SidecarPlan | None:
    """The sidecar's plan, or None without --sidecar; bad flags raise LoadgenError (exit 2).
    `interval_s` is already inside --sidecar-interval's range (loadgen/flags.py)."""
    pid, name = opts.get("sidecar_pid"), opts.get("sidecar_process_name")
    if not opts.get("sidecar"):
        if pid is not None or name:
            raise LoadgenError("--sidecar-pid and --sidecar-process-name need --sidecar")
        return None
    if pid is not None and name:
        raise LoadgenError("give --sidecar-pid or --sidecar-process-name, not both")
    if pid is not None and (pid <= 0 or not psutil.pid_exists(pid)):
        raise LoadgenError(f"--sidecar-pid {pid}: no such process")
    return SidecarPlan(pid, name or None, interval_s)


def sidecar_command(
    plan: SidecarPlan,
    run_id: str,
    results_dir: Path,
    engine_url: str,
    engine_label: str,
    engine_pid: int | None,
    influx_args: Sequence[str],
    duration_s: float,
) -> list[str]:
    """The child's argv. `engine_pid` is the --sim server's: its VRAM then comes from /sim/gpu,
    so NVML is off (a real GPU on this host would otherwise win over the simulated one)."""
    pid = plan.pid if plan.pid is not None or plan.process_name else engine_pid
    argv = sidecar_argv(
        run_id, results_dir, engine_url, pid, plan.process_name, plan.interval_s, influx_args
    )
    argv += ["--engine-tag", engine_label, "--duration", f"{duration_s + SAFETY_MARGIN_S:g}"]
    return [*argv, "--no-nvml"] if engine_pid is not None else argv


@contextlib.contextmanager
def running_sidecar(
    plan: SidecarPlan | None,
    run_id: str,
    results_dir: Path,
    target: TargetInfo,
    engine_label: str,
    influx: tuple[Sequence[str], dict[str, str]],
    duration_s: float,
) -> Iterator[subprocess.Popen[bytes] | None]:
    """The sidecar for one run (plan None: nothing), from before the load to after it.

    `influx` is the swarm's (non-secret args, secrets for the environment)."""
    if plan is None:
        yield None
        return
    argv = sidecar_command(
        plan, run_id, results_dir, target.host, engine_label, target.pid, influx[0], duration_s
    )
    with sidecar_process(argv, {**os.environ, **influx[1]}, results_dir) as proc:
        yield proc


@contextlib.contextmanager
def sidecar_process(
    argv: list[str], env: dict[str, str], results_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the sidecar until the block ends; waits for its first sample (the idle baseline).

    It shares this process group, so a Ctrl-C or a group kill reaches it too; otherwise it
    gets SIGTERM here, then SIGKILL if it lingers."""
    results_dir.mkdir(parents=True, exist_ok=True)
    with (results_dir / SIDECAR_LOG).open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_first_sample(proc, results_dir)
            yield proc
        finally:
            _stop(proc, results_dir)


def _wait_first_sample(proc: subprocess.Popen[bytes], results_dir: Path) -> None:
    path = results_dir / SIDECAR_FILE
    deadline = time.monotonic() + FIRST_SAMPLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            reason = _last_line(results_dir / SIDECAR_LOG) or f"exit code {proc.returncode}"
            raise LoadgenError(f"--sidecar did not start: {reason}")
        if path.is_file() and path.stat().st_size > 0:
            return
        time.sleep(POLL_S)
    _warn(f"no sidecar sample after {FIRST_SAMPLE_TIMEOUT_S:g} s; idle VRAM may be missing")


def _stop(proc: subprocess.Popen[bytes], results_dir: Path) -> None:
    if proc.poll() is not None:
        if proc.returncode != 0:
            _warn(f"the sidecar exited early ({_last_line(results_dir / SIDECAR_LOG)})")
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        _warn("the sidecar ignored SIGTERM and was killed; its last samples may be missing")


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "no output"


def _warn(text: str) -> None:
    print(f"loadgen: warning: {text}", file=sys.stderr, flush=True)
