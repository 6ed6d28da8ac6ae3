"""`loadgen worker`: a Locust worker process that joins a master (`loadgen swarm --master`)."""

from __future__ import annotations

import os
import sys

import click

from loadgen.cli.swarm import LOCUSTFILE, USER_CLASS, run_child


@click.command("worker")
@click.option("--master-host", default="127.0.0.1", show_default=True, envvar="LOADGEN_MASTER_HOST")
@click.option(
    "--master-port",
    default=5557,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="LOADGEN_MASTER_PORT",
)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True)
def worker(master_host: str, master_port: int, processes: int) -> None:
    """A Locust worker for a distributed run; it takes its options from the master."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker"]
    argv += ["--master-host", master_host, "--master-port", str(master_port)]
    if processes > 1:
        argv += ["--processes", str(processes)]
    completed = run_child([*argv, USER_CLASS], {**os.environ, "LOADGEN_CHILD": "1"})
    sys.exit(0 if completed else 130)
