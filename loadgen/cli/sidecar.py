"""`loadgen sidecar`: GPUs, the engine's process tree, the host and the engine, beside a run."""

from __future__ import annotations

import signal
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from loadgen.cli.influx_options import influx_options, settings_from_options
from loadgen.cli.swarm_flags import click_option
from loadgen.errors import LoadgenError
from loadgen.flags import SIDECAR, Flag
from loadgen.flags import run_id as flag_run_id
from loadgen.redact import redact_url
from loadgen.results import SidecarLog
from loadgen.sidecar.influx_out import InfluxSampleSink
from loadgen.sidecar.runner import SampleSink, Sidecar, Sources, open_sources
from loadgen.sidecar.scraper import ENGINE_KINDS
from loadgen.sinks.influx_http import preflight

_PREFIX = "loadgen sidecar: "


def _echo_err(message: str) -> None:
    click.echo(_PREFIX + message, err=True)


_SIDECAR = frozenset({SIDECAR})
# Its numbers, checked by the flag table's one rule (loadgen/flags.py: ranges, NaN, infinity).
INTERVAL = Flag("interval", "duration", 1.0, "Time between samples (0.1s = 10 Hz).", _SIDECAR,
                env="LOADGEN_SIDECAR_INTERVAL", min=0.01, max=3600)  # fmt: skip
DURATION = Flag("duration", "duration", None, "Stop after this long [default: until"
                " SIGTERM/SIGINT].", _SIDECAR, min=0, min_open=True)  # fmt: skip
PID = Flag("pid", "int", None, "The engine's root process id.", _SIDECAR, min=1)


def _check(
    run_id: str | None, pid: int | None, process_name: str | None, engine_url: str | None
) -> None:
    if run_id is not None:
        flag_run_id(run_id)  # the swarm's rule: it names a directory under results/
    if pid is not None and process_name:
        raise LoadgenError("give --pid or --process-name, not both")
    if engine_url:
        parts = urllib.parse.urlsplit(engine_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = redact_url(engine_url)
            raise LoadgenError(f"--engine-url must be http(s)://host[:port], got {shown!r}")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@click.command("sidecar")
@click.option("--run-id", envvar="LOADGEN_RUN_ID", help="The swarm's run id (env LOADGEN_RUN_ID).")
@click.option(
    "--results",
    "results",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LOADGEN_RESULTS",
    help="Results directory [default: results/<run_id>].",
)
@click_option(INTERVAL)
@click_option(DURATION, envvar=False)
@click_option(PID, envvar=False)
@click.option(
    "--process-name",
    default=None,
    help="Find the engine by name or command (ollama, vllm, python...).",
)
@click.option(
    "--engine-url",
    envvar="LOADGEN_ENGINE_URL",
    default=None,
    help="Engine base URL for /metrics, /api/ps or /sim/gpu.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINE_KINDS),
    default="auto",
    show_default=True,
    help="Which engine endpoints to scrape; auto probes /sim/gpu, /api/ps, /metrics.",
)
@click.option(
    "--engine-tag",
    default=None,
    help="The `engine` tag of InfluxDB points [default: the detected engine].",
)
@click.option("--no-nvml", is_flag=True, help="Do not read NVIDIA GPUs.")
@influx_options
def sidecar(
    run_id: str | None,
    results: Path | None,
    interval: float,
    duration: float | None,
    pid: int | None,
    process_name: str | None,
    engine_url: str | None,
    engine: Any,
    engine_tag: str | None,
    no_nvml: bool,
    **influx: Any,
) -> None:
    """Sample VRAM, GPU load, the engine's RAM/CPU and engine state into <results>/sidecar.jsonl."""
    interval_s, duration_s = interval, duration  # seconds (durations: '500ms', '2m', 90)
    _check(run_id, pid, process_name, engine_url)
    run_id = run_id or time.strftime("sidecar-%Y%m%d-%H%M%S")
    results = results or Path("results") / run_id
    settings = settings_from_options(influx)
    if settings is not None:
        settings = preflight(settings)  # unreachable or misconfigured: one line, exit 2
    sinks: list[SampleSink] = [SidecarLog(results, run_id)]
    sources = open_sources(
        pid=pid,
        process_name=process_name,
        engine_url=engine_url,
        engine=engine,
        interval_s=interval_s,
        use_nvml=not no_nvml,
    )
    influx_sink = None
    if settings is not None:
        influx_sink = InfluxSampleSink(
            settings, results, run_id, _engine_tag(sources, engine, engine_tag)
        )
        sinks.append(influx_sink.start())
    stop = _stop_on_signals()
    click.echo(f"{_PREFIX}run {run_id}: writing {results / 'sidecar.jsonl'} every {interval_s} s")
    runner = Sidecar(sources=sources, sinks=sinks, interval_s=interval_s, echo=_echo_err)
    runner.run(stop, duration_s)
    _print_summary(runner, influx_sink)


def _print_summary(runner: Sidecar, influx_sink: InfluxSampleSink | None) -> None:
    for line in runner.summary.lines():
        click.echo(_PREFIX + line)
    if influx_sink is not None and influx_sink.report is not None:
        r = influx_sink.report
        click.echo(
            f"{_PREFIX}influx: {r.written} points written, {r.spilled} spilled"
            f" ({r.spool_path}), {r.rejected} rejected, {r.dropped} dropped"
        )


def _engine_tag(sources: Sources, engine: str, given: str | None) -> Callable[[], str]:
    """The `engine` tag: --engine-tag (the swarm's label), else what the scraper detected,
    else --engine unless auto, else none."""
    if given:
        return lambda: given
    fixed = "" if engine == "auto" else engine

    def tag() -> str:
        scraper = sources.scraper
        return (scraper.kind if scraper is not None else "") or fixed

    return tag
