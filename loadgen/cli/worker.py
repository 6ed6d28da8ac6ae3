"""`loadgen worker`: a Locust worker process that joins a master (`loadgen swarm --master`)."""

from __future__ import annotations

import os
import sys

import click

from loadgen.cli.swarm import LOCUSTFILE, USER_CLASS, run_child
from loadgen.cli.swarm_flags import click_option
from loadgen.flags import DEFAULT_MASTER_PORT, Flag
from loadgen.run.master_watch import resolve, watching

_WORKER = frozenset({"worker"})
# Its numbers, checked by the flag table's one rule (loadgen/flags.py: ranges, NaN, infinity).
MASTER_PORT = Flag("master-port", "int", DEFAULT_MASTER_PORT, "The master's port.", _WORKER,
                   min=1, max=65535)  # fmt: skip
PROCESSES = Flag("processes", "int", 1, "Worker processes on this machine.", _WORKER, min=1)


def _say(line: str) -> None:
    click.echo(f"loadgen worker: {line}", err=True)


@click.command("worker")
@click.option("--master-host", default="127.0.0.1", show_default=True, envvar="LOADGEN_MASTER_HOST")
@click_option(MASTER_PORT)
@click_option(PROCESSES, envvar=False)
def worker(master_host: str, master_port: int, processes: int) -> None:
    """A Locust worker for a distributed run; it takes its options from the master."""
    resolve(master_host, master_port)  # a mistyped name: exit 2 at once
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker"]
    argv += ["--master-host", master_host, "--master-port", str(master_port)]
    if processes > 1:
        argv += ["--processes", str(processes)]
    with watching(master_host, master_port, _say):
        completed = run_child([*argv, USER_CLASS], {**os.environ, "LOADGEN_CHILD": "1"})
    sys.exit(0 if completed else 130)
