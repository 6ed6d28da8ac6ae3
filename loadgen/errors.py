"""Errors that end a command with one clear line and a fixed exit code."""

from __future__ import annotations

from loadgen.redact import redact_text

EXIT_OK = 0
EXIT_SLO_BREACH = 1
EXIT_BAD_INPUT = 2


class LoadgenError(Exception):
    """Bad input (flags, config, dataset, unreachable target or database): exit 2, one line."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, *args: object) -> None:
        # Messages often quote a URL (--host, --influx-url): never with its credentials.
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))
