"""Click flags of `loadgen swarm` and `loadgen ui`: scale-out and sidecar (each also LOADGEN_*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

DEFAULT_MASTER_PORT = 5557


def scale_out_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--run-id, --master, --expect-workers, --master-bind-host, --master-port, --worker-wait,
    --allow-saturated, --saturation-cpu-pct (each also LOADGEN_<FLAG>)."""
    decorators = [
        click.option(
            "--run-id",
            default=None,
            envvar="LOADGEN_RUN_ID",
            help="run id (default: UTC time + random suffix); share it with `loadgen sidecar`",
        ),
        click.option(
            "--master",
            is_flag=True,
            envvar="LOADGEN_MASTER",
            help="run as the master of `loadgen worker` processes on other hosts",
        ),
        click.option(
            "--expect-workers",
            type=click.IntRange(min=1),
            default=None,
            envvar="LOADGEN_EXPECT_WORKERS",
            help="--master: start once this many workers have joined",
        ),
        click.option(
            "--master-bind-host",
            default="*",
            show_default=True,
            envvar="LOADGEN_MASTER_BIND_HOST",
            help="--master: interface to listen on (* = all)",
        ),
        click.option(
            "--master-port",
            type=click.IntRange(1, 65535),
            default=DEFAULT_MASTER_PORT,
            show_default=True,
            envvar="LOADGEN_MASTER_PORT",
            help="--master: port the workers connect to",
        ),
        click.option(
            "--worker-wait",
            default="120s",
            show_default=True,
            envvar="LOADGEN_WORKER_WAIT",
            help="--master: give up (exit 2) if the workers have not joined by then",
        ),
        click.option(
            "--allow-saturated",
            is_flag=True,
            envvar="LOADGEN_ALLOW_SATURATED",
            help="exit 0 even if the load generator was saturated (it is still reported)",
        ),
        click.option(
            "--saturation-cpu-pct",
            type=click.FloatRange(min=0),
            default=90.0,
            show_default=True,
            envvar="LOADGEN_SATURATION_CPU_PCT",
            help="a worker at or above this CPU % (100 = one core) for 2 intervals is saturated",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def sidecar_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--sidecar, --sidecar-pid, --sidecar-process-name, --sidecar-interval (also LOADGEN_*)."""
    options = [
        click.option(
            "--sidecar",
            is_flag=True,
            envvar="LOADGEN_SIDECAR",
            help="sample VRAM, GPU and the engine's RAM beside the run (sidecar.jsonl)",
        ),
        click.option(
            "--sidecar-pid",
            type=int,
            default=None,
            envvar="LOADGEN_SIDECAR_PID",
            help="--sidecar: the engine's root process id (default with --sim: the simulator)",
        ),
        click.option(
            "--sidecar-process-name",
            default=None,
            envvar="LOADGEN_SIDECAR_PROCESS_NAME",
            help="--sidecar: find the engine process by name (ollama, vllm, python...)",
        ),
        click.option(
            "--sidecar-interval",
            default="1s",
            show_default=True,
            envvar="LOADGEN_SIDECAR_INTERVAL",
            help="--sidecar: time between samples (0.1s = 10 Hz)",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
