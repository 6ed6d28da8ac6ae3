"""`loadgen worker` and a master that is not there: a name that does not resolve is exit 2 at
once; a master that does not answer is reported while the worker waits for it."""

from __future__ import annotations

import select
import subprocess

from tests.fixtures.net import free_port, loadgen_cmd, stop


def test_a_master_that_does_not_answer_is_reported_while_waiting() -> None:
    port = free_port()
    proc = subprocess.Popen(
        loadgen_cmd("worker", "--master-port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 30.0)  # it comes at once
        line = proc.stderr.readline().decode() if ready else "(nothing within 30 s)"
    finally:
        stop(proc)  # type: ignore[arg-type]
    assert line.startswith(f"loadgen worker: master 127.0.0.1:{port} not reachable"), line
    assert "still waiting" in line
