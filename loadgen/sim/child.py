"""Run `loadgen sim` as a child process: start it, read its listening line, always stop it.

Used by `loadgen swarm --sim` and by the benches. The child's output is drained for its whole
life, so a chatty simulator never blocks on a full pipe.
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
from typing import Any

from loadgen.errors import LoadgenError

READY_RE = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


@dataclass(frozen=True, slots=True)
class SimChild:
    """A running simulator: its base URL and process id (the engine a sidecar watches)."""

    url: str
    pid: int


def _read_ready_line(proc: subprocess.Popen[str], found: list[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        match = READY_RE.search(line)
        if match:
            found.append(match.group(1))
            return


def _drain(proc: subprocess.Popen[str]) -> None:
    for _ in proc.stdout or []:
        pass


def stop_group(proc: subprocess.Popen[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group of `proc` (started with start_new_session), then SIGKILL it if
    it lingers past `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def sim_child(
    *args: str, timeout_s: float = START_TIMEOUT_S, label: str = "the simulator"
) -> Iterator[SimChild]:
    """Yield the running `loadgen sim --port 0 ARGS...`; SIGTERM (then SIGKILL) on exit.

    >>> with sim_child("--profile", "fast") as sim:  # doctest: +SKIP
    ...     print(sim.url)
    """
    cmd = [sys.executable, "-m", "loadgen", "sim", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        found: list[str] = []
        lines: list[str] = []
        reader = threading.Thread(target=_read_ready_line, args=(proc, found, lines), daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not found:
            last = lines[-1].removeprefix("loadgen: error: ") if lines else "no output"
            raise LoadgenError(f"{label} did not start ({last})")
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield SimChild(found[0], proc.pid)
    finally:
        stop_group(proc)


@contextlib.contextmanager
def sim_process(*args: str, timeout_s: float = START_TIMEOUT_S) -> Iterator[tuple[str, int]]:
    """Like `sim_child`, yielding (base URL, pid)."""
    with sim_child(*args, timeout_s=timeout_s) as sim:
        yield sim.url, sim.pid
