"""The `--influx-*` flags shared by swarm, sidecar and replay, and their hand-off to Locust.

Secrets travel to child processes in the environment (`locust_env`), never on a command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from loadgen.cli.swarm_flags import click_option
from loadgen.flags import INFLUX_ENV_VARS, INFLUX_FLAGS, child_argv, child_secrets
from loadgen.sinks.influx_settings import InfluxSettings, settings_from

F = TypeVar("F", bound=Callable[..., Any])


def influx_options(func: F) -> F:
    """Add `--influx-url`, `--influx-flavour`, ... (each also read from INFLUX_*) to a command.

    The flags are loadgen/flags.py's INFLUX_FLAGS (named by INFLUX_ENV_VARS). The command receives
    them as `influx_url`, `influx_flavour`, ...; turn them into settings with
    `settings_from_options(kwargs)`.
    """
    for flag in reversed(INFLUX_FLAGS):
        func = click_option(flag)(func)
    return func


def settings_from_options(options: Mapping[str, Any]) -> InfluxSettings | None:
    """Settings from a command's `influx_*` keyword arguments; None when no URL is set.

    Raises LoadgenError (exit 2) for incomplete settings, e.g. v2 without a token.
    """
    values = {name: options.get(f"influx_{name}") for name in INFLUX_ENV_VARS}
    return settings_from(values)


def influx_values(settings: InfluxSettings | None) -> dict[str, Any]:
    """The settings as the table's `influx_*` values (all None when InfluxDB is off)."""
    return {f"influx_{name}": getattr(settings, name, None) for name in INFLUX_ENV_VARS}


def locust_args(settings: InfluxSettings) -> list[str]:
    """Non-secret `--influx-*` arguments for locust master/worker command lines."""
    return child_argv(influx_values(settings))


def locust_env(settings: InfluxSettings) -> dict[str, str]:
    """The secrets as INFLUX_TOKEN / INFLUX_PASSWORD, for the child processes' environment."""
    return child_secrets(influx_values(settings))
