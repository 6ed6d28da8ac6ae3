"""The command line that starts a sidecar beside a run (used by `loadgen swarm --sidecar`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def sidecar_argv(
    run_id: str,
    results_dir: str | Path,
    engine_url: str | None,
    pid: int | None = None,
    process_name: str | None = None,
    interval_s: float = 1.0,
    influx_args: Sequence[str] = (),
) -> list[str]:
    """argv for `python -m loadgen sidecar ...`; SIGTERM stops the child: it flushes, exits 0.

    `influx_args` are the swarm's own InfluxDB flags passed through unchanged (e.g.
    ["--influx-url", "http://127.0.0.1:8086", ...]) so both processes write to the same place.
    """
    argv = [
        sys.executable,
        "-m",
        "loadgen",
        "sidecar",
        "--run-id",
        run_id,
        "--results",
        str(results_dir),
        "--interval",
        repr(float(interval_s)),
    ]
    if engine_url:
        argv += ["--engine-url", engine_url]
    if pid is not None:
        argv += ["--pid", str(pid)]
    if process_name:
        argv += ["--process-name", process_name]
    return [*argv, *influx_args]
