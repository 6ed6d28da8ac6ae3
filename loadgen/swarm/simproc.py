"""`--sim PROFILE`: run `loadgen sim` as a child process on a free port for the length of a run.

No locust here: the CLI uses it before starting Locust. The child is always stopped (SIGTERM,
then SIGKILL), also when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loadgen.errors import LoadgenError
from loadgen.sim.profiles import load_profile

READY_RE = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


def _read_ready_line(proc: subprocess.Popen[str], found: list[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        match = READY_RE.search(line)
        if match:
            found.append(match.group(1))
            return


@dataclass(frozen=True, slots=True)
class SimChild:
    """A running simulator: its base URL and process id (the engine a sidecar watches)."""

    url: str
    pid: int


def profile_engine(profile: str) -> str:
    """The engine a --sim profile imitates ("ollama", "vllm"; "sim" for the generic ones): the
    run's `engine` label, so a simulated run reads like the engine it stands for."""
    return load_profile(profile).engine


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def simulator(
    profile: str, truth: Path | None = None, seed: int = 0, faults: str = ""
) -> Iterator[SimChild]:
    """Start the simulator and yield its base URL and pid; stop it on exit."""
    cmd = [sys.executable, "-m", "loadgen", "sim", "--profile", profile, "--port", "0"]
    cmd += ["--seed", str(seed)]
    if faults:
        cmd += ["--faults", faults]
    if truth is not None:
        cmd += ["--truth", str(truth)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        found: list[str] = []
        lines: list[str] = []
        reader = threading.Thread(target=_read_ready_line, args=(proc, found, lines), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not found:
            last = lines[-1] if lines else "no output"
            raise LoadgenError(f"--sim {profile}: the simulator did not start ({last})")
        # keep draining its output so a chatty simulator never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
        yield SimChild(found[0], proc.pid)
    finally:
        _stop(proc)
