"""`loadgen ui`: Locust's web UI with loadgen's LLM tab, on the same options as `loadgen swarm`."""

from __future__ import annotations

from typing import Any

import click

from loadgen.cli.influx_options import influx_options
from loadgen.cli.swarm import (
    USER_CLASS,
    check_inputs,
    child_env,
    common_options,
    duration_opt_s,
    gate,
    locust_argv,
    run_child,
    target,
)
from loadgen.cli.swarm_flags import sidecar_options
from loadgen.run.sidecar_link import check_sidecar, running_sidecar
from loadgen.swarm.results import SUMMARY_FILE

INTERACTIVE_SIDECAR_S = 24 * 3600.0  # an interactive session has no planned end


@click.command("ui")
@common_options
@influx_options
@sidecar_options
@click.option(
    "--web-port",
    type=click.IntRange(1, 65535),
    default=8089,
    show_default=True,
    envvar="LOADGEN_WEB_PORT",
    help="port of the web UI (bound to 127.0.0.1)",
)
@click.option(
    "--autostart",
    is_flag=True,
    envvar="LOADGEN_AUTOSTART",
    help="start the load at once (with --run-time: stop after it)",
)
def ui(web_port: int, autostart: bool, **opts: Any) -> None:
    """Open Locust's web UI with loadgen's LLM tab; Ctrl-C ends it and writes the results."""
    opts["slo"] = ()
    spec = check_inputs(opts)
    sidecar = check_sidecar(opts, duration_opt_s(opts, "sidecar-interval"))
    with target(opts) as info:
        argv = locust_argv(opts, spec, info, headless=False)
        argv += ["--web-host", "127.0.0.1", "--web-port", str(web_port)]
        argv += ["-u", str(spec.plan.users[0]), "-r", str(spec.plan.rate)]
        if autostart:
            argv += ["--autostart", "-t", f"{spec.plan.total_s:g}s", "--autoquit", "2"]
        click.echo(f"loadgen ui: http://127.0.0.1:{web_port}  (target {info.host}, {info.model})")
        influx = (spec.influx_args, spec.influx_env)
        engine = opts["engine"] or info.engine
        with running_sidecar(
            sidecar, spec.run_id, spec.results_dir, info, engine, influx, INTERACTIVE_SIDECAR_S
        ):
            run_child([*argv, USER_CLASS], child_env(opts, spec))
    if (spec.results_dir / SUMMARY_FILE).is_file():
        gate(spec.results_dir, [])
