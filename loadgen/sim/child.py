"""Run `loadgen sim` as a child process (benches): start, read the listening line, always stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

from loadgen.errors import LoadgenError

_READY_RE = re.compile(r"listening on (http://\S+)")


@contextlib.contextmanager
def sim_process(*args: str, timeout_s: float = 30.0) -> Iterator[tuple[str, int]]:
    """Yield (base URL, pid) of `loadgen sim --port 0 ARGS...`; SIGTERM (then SIGKILL) on exit."""
    cmd = [sys.executable, "-m", "loadgen", "sim", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints this line first, or exits
        match = _READY_RE.search(line)
        if match is None:
            err = proc.stderr.read().strip() if proc.stderr and proc.wait(timeout_s) else ""
            raise LoadgenError(f"the simulator did not start: {err or line.strip() or 'no output'}")
        yield match.group(1), proc.pid
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
