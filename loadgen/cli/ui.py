"""`loadgen ui`: Locust's web UI with loadgen's LLM tab, on the same options as `loadgen swarm`."""

from __future__ import annotations

import sys
from typing import Any

import click

from loadgen.cli.swarm import (
    USER_CLASS,
    check_inputs,
    child_env,
    exit_interrupted,
    gate,
    locust_argv,
    run_fingerprint,
    run_locust,
    target,
)
from loadgen.cli.swarm_flags import options_for
from loadgen.flags import UI, seconds_of
from loadgen.redact import redact_url
from loadgen.run.preflight import check_port_free
from loadgen.run.run_end import ChildEnd, finish_results
from loadgen.run.sidecar_link import check_sidecar, running_sidecar

INTERACTIVE_SIDECAR_S = 24 * 3600.0  # an interactive session has no planned end
WEB_HOST = "127.0.0.1"


@click.command("ui")
@options_for(UI)
def ui(**opts: Any) -> None:
    """Open Locust's web UI with loadgen's LLM tab; Ctrl-C ends it and writes the results."""
    opts["slo"] = ()
    check_port_free(WEB_HOST, opts["web_port"], "--web-port")  # before anything is started
    spec = check_inputs(opts)
    sidecar = check_sidecar(opts, seconds_of(opts, "sidecar-interval"))
    with target(opts) as info:
        argv = locust_argv(opts, spec, info, headless=False)
        argv += ["--web-host", WEB_HOST]  # --web-port: a to_child flag of loadgen/flags.py
        argv += ["-u", str(spec.plan.users[0]), "-r", str(spec.plan.rate)]
        if opts["autostart"]:
            argv += ["--autostart", "-t", f"{spec.plan.total_s:g}s", "--autoquit", "2"]
        url = f"http://127.0.0.1:{opts['web_port']}"
        click.echo(f"loadgen ui: {url}  (target {redact_url(info.host)}, {info.model})")
        influx = (spec.influx_args, spec.influx_env)
        engine = opts["engine"] or info.engine
        fingerprint = run_fingerprint(opts, info, engine)
        with running_sidecar(
            sidecar, spec.run_id, spec.results_dir, info, engine, influx, INTERACTIVE_SIDECAR_S
        ):
            child = run_locust([*argv, USER_CLASS], child_env(opts, spec))
    if child.interrupted and not opts["autostart"]:  # Ctrl-C: how a session ends
        child = ChildEnd(0)
    summary, _ = finish_results(spec.results_dir, opts["sim"], child, fingerprint=fingerprint)
    if summary is not None:
        gate(summary, spec.results_dir, [])
    if child.end_reason:
        if child.interrupted:
            exit_interrupted()
        sys.exit(1)
