"""Errors that end a command with one clear line and a fixed exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_SLO_BREACH = 1
EXIT_BAD_INPUT = 2


class LoadgenError(Exception):
    """Bad input (flags, config, dataset, unreachable target or database): exit 2, one line."""

    exit_code = EXIT_BAD_INPUT
