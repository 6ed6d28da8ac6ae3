"""The `--influx-*` flags shared by swarm, sidecar and replay, and their hand-off to Locust.

Secrets travel to child processes in the environment (`locust_env`), never on a command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from loadgen.sinks.influx_settings import ENV_VARS, FLAVOURS, InfluxSettings, settings_from

F = TypeVar("F", bound=Callable[..., Any])

_HELP = {
    "url": "InfluxDB base URL, e.g. http://127.0.0.1:8086 (unset: InfluxDB is off)",
    "flavour": "write API: v1 (/write, 1.x), v2 (/api/v2/write, 2.x/3.x), auto (from /ping)",
    "token": "v2 API token (or a v1-compatible token)",
    "org": "v2 organisation",
    "bucket": "v2 bucket",
    "db": "v1 database",
    "rp": "v1 retention policy (default: the database's default)",
    "user": "v1 user name",
    "password": "v1 password",
}


def influx_options(func: F) -> F:
    """Add `--influx-url`, `--influx-flavour`, ... (each also read from INFLUX_*) to a command.

    The command receives them as `influx_url`, `influx_flavour`, ...; turn them into settings
    with `settings_from_options(kwargs)`.
    """
    for name in reversed(ENV_VARS):
        option_type: Any = click.Choice(FLAVOURS) if name == "flavour" else str
        func = click.option(
            f"--influx-{name}",
            f"influx_{name}",
            type=option_type,
            default=None,
            envvar=ENV_VARS[name],
            show_envvar=True,
            help=_HELP[name],
        )(func)
    return func


def settings_from_options(options: Mapping[str, Any]) -> InfluxSettings | None:
    """Settings from a command's `influx_*` keyword arguments; None when no URL is set.

    Raises LoadgenError (exit 2) for incomplete settings, e.g. v2 without a token.
    """
    values = {name: options.get(f"influx_{name}") for name in ENV_VARS}
    return settings_from(values)


def locust_args(settings: InfluxSettings) -> list[str]:
    """Non-secret `--influx-*` arguments for locust master/worker command lines."""
    args: list[str] = []
    for name in ENV_VARS:
        value = getattr(settings, name)
        if value and name not in ("token", "password"):
            args += [f"--influx-{name}", str(value)]
    return args


def locust_env(settings: InfluxSettings) -> dict[str, str]:
    """The secrets as INFLUX_TOKEN / INFLUX_PASSWORD, for the child processes' environment."""
    env = {}
    if settings.token:
        env[ENV_VARS["token"]] = settings.token
    if settings.password:
        env[ENV_VARS["password"]] = settings.password
    return env
