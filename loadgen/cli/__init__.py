"""The `loadgen` command: a click group whose subcommands load lazily, one module each.

This package is the only one that imports click. A subcommand module never imports locust or
gevent at import time, so `loadgen sim` and `loadgen sidecar` stay free of monkey-patching.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from loadgen import __version__
from loadgen.errors import EXIT_BAD_INPUT, LoadgenError
from loadgen.redact import redact_text

# name -> "module:attribute"; each module owns one job.
COMMANDS: dict[str, str] = {
    "sim": "loadgen.cli.sim:sim",
    "swarm": "loadgen.cli.swarm:swarm",
    "capacity": "loadgen.cli.capacity:capacity",
    "ui": "loadgen.cli.ui:ui",
    "worker": "loadgen.cli.worker:worker",
    "sidecar": "loadgen.cli.sidecar:sidecar",
    "replay": "loadgen.cli.replay:replay",
    "import": "loadgen.cli.replay:replay",
    "report": "loadgen.cli.report:report",
    "compare": "loadgen.cli.report:compare",
}


class LazyGroup(click.Group):
    """Imports a subcommand only when it is invoked or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if self._load(n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def _load(self, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # not built yet
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:  # one-line errors, never a traceback
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("loadgen: aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"loadgen: error: {redact_text(exc.format_message())}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except LoadgenError as exc:
            click.echo(f"loadgen: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loadgen")
def main() -> None:
    """Measure how an LLM engine scales with concurrent users."""
