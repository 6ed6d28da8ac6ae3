"""Scale-out flags of `loadgen swarm`: run as a Locust master for workers on other hosts."""

from __future__ import annotations

from typing import Any

from loadgen.errors import LoadgenError
from loadgen.flags import run_id, seconds_of


def master_args(opts: dict[str, Any]) -> list[str]:
    """Locust's master flags (checked: one line, exit 2 on bad input); [] unless --master."""
    if opts.get("run_id") is not None:
        run_id(opts["run_id"])
    if not opts["master"]:
        if opts["expect_workers"] is not None:
            raise LoadgenError("--expect-workers needs --master")
        return []
    if opts["processes"]:
        raise LoadgenError("give either --master (workers on other hosts) or --processes, not both")
    wait_s = seconds_of(opts, "worker-wait")  # at least 1 s (loadgen/flags.py)
    argv = ["--master", "--expect-workers", str(opts["expect_workers"] or 1)]
    argv += ["--master-bind-host", str(opts["master_bind_host"])]
    argv += ["--master-bind-port", str(opts["master_port"])]
    return [*argv, "--expect-workers-max-wait", str(max(1, round(wait_s)))]
