"""Scale-out flags of `loadgen swarm`: run as a Locust master for workers on other hosts, and
the load generator's own verdict (saturated, lost workers) at the end. No locust import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from loadgen.errors import EXIT_OK, EXIT_SLO_BREACH, LoadgenError
from loadgen.run.health import verdict_lines
from loadgen.run.plan import parse_duration_s
from loadgen.swarm.results import SUMMARY_FILE, read_json

_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def master_args(opts: dict[str, Any]) -> list[str]:
    """Locust's master flags (checked: one line, exit 2 on bad input); [] unless --master."""
    run_id = opts.get("run_id")
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        raise LoadgenError(f"--run-id: use letters, digits, '.', '_' and '-' only, got {run_id!r}")
    argv = ["--saturation-cpu-pct", str(opts["saturation_cpu_pct"])]
    if not opts["master"]:
        if opts["expect_workers"] is not None:
            raise LoadgenError("--expect-workers needs --master")
        return argv
    if opts["processes"]:
        raise LoadgenError("give either --master (workers on other hosts) or --processes, not both")
    wait_s = parse_duration_s(str(opts["worker_wait"]), "--worker-wait")
    if wait_s < 1:
        raise LoadgenError("--worker-wait must be at least 1 s")
    argv += ["--master", "--expect-workers", str(opts["expect_workers"] or 1)]
    argv += ["--master-bind-host", str(opts["master_bind_host"])]
    argv += ["--master-bind-port", str(opts["master_port"])]
    return [*argv, "--expect-workers-max-wait", str(max(1, round(wait_s)))]


def _summary(results_dir: Path) -> dict[str, Any]:
    path = results_dir / SUMMARY_FILE
    data = read_json(path) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def check_started(results_dir: Path, opts: dict[str, Any]) -> None:
    """A master whose workers never all joined ran nothing: bad input, one line, exit 2."""
    data = _summary(results_dir)
    if opts["master"] and data.get("meta", {}).get("start_unix_ns") is None:
        raise LoadgenError(
            f"the run never started: fewer than {opts['expect_workers'] or 1} worker(s)"
            f" joined within --worker-wait {opts['worker_wait']}"
        )


def generator_gate(results_dir: Path, opts: dict[str, Any]) -> int:
    """Print the generator's verdict (saturated, lost workers); exit 1 if it was saturated,
    unless --allow-saturated. Lost workers are reported but change no exit code."""
    generator = _summary(results_dir).get("generator") or {}
    for line in verdict_lines(generator):
        click.echo(line, err=True)
    saturated = bool(generator.get("saturated"))
    return EXIT_SLO_BREACH if saturated and not opts["allow_saturated"] else EXIT_OK
