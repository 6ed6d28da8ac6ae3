"""Click options generated from loadgen/flags.py's table: `options_for("swarm")`, `("ui")`, ...

Each option also reads its environment variable (LOADGEN_<FLAG> unless the table names
another); flags beat the environment, which beats the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from loadgen.errors import LoadgenError
from loadgen.flags import Flag, duration_text, flags_of, unset

F = TypeVar("F", bound=Callable[..., Any])


class Checked(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5
    """A number or duration ('5s', '2m', '1m30s' or plain seconds) typed and range-checked by
    its row of the table, so NaN and infinity are refused on every command that uses it."""

    def __init__(self, flag: Flag) -> None:
        self.flag = flag
        self.name = {"int": "integer", "float": "float"}.get(flag.kind, flag.kind)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.flag.typed(value)
        except LoadgenError as exc:  # click names the flag already
            message = str(exc).removeprefix(self.flag.option)
            self.fail(message.removeprefix(":").strip(), param, ctx)


def _type(flag: Flag) -> Any:
    if flag.kind in ("duration", "int", "float"):
        return Checked(flag)
    if flag.kind == "choice":
        return click.Choice(flag.choices)
    if flag.kind == "path":
        return click.Path(dir_okay=False)
    return str


def _default(flag: Flag) -> Any:
    """Click's default: durations as text ('60s'), so `--help` shows them as they are typed."""
    if flag.kind == "duration" and isinstance(flag.default, float):
        return duration_text(flag.default)
    return flag.default


def click_option(flag: Flag, envvar: bool = True) -> Callable[[F], F]:
    """One table flag as a click option; the command receives it as `flag.dest`. Commands
    outside the table (sim, sidecar, worker, replay) declare their numbers as Flag rows too, so
    one rule checks every number (envvar=False: no environment variable)."""
    kwargs: dict[str, Any] = {
        "envvar": flag.env_var if envvar else None,
        "show_envvar": bool(flag.env) and flag.env not in flag.help,  # INFLUX_*
        "help": flag.help,
        "show_default": not unset(flag.default),
    }
    if flag.kind == "switch":
        kwargs["is_flag"] = True
    else:
        kwargs.update(type=_type(flag), default=_default(flag), multiple=flag.multiple)
    return click.option(flag.option, flag.dest, **kwargs)


def options_for(command: str) -> Callable[[F], F]:
    """Every flag of `command` (swarm, ui, sidecar, replay) in the table, in table order."""

    def decorate(func: F) -> F:
        for flag in reversed(flags_of(command)):
            func = click_option(flag)(func)
        return func

    return decorate
