"""loadgen's options inside Locust: added to Locust's parser from loadgen/flags.py's table, and
read back as typed settings.

Every option also reads its environment variable (LOADGEN_<FLAG>; the API key OPENAI_API_KEY),
so `locust -f locustfiles/chat.py --api ollama` and `loadgen swarm --api ollama` take the same
names, values and ranges. Pure: no locust import, the parser is passed in.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadgen.errors import LoadgenError
from loadgen.flags import LOCUST, Flag, Value, flags_of


def _converter(flag: Flag) -> Callable[[str], Value]:
    def convert(text: str) -> Value:
        try:
            return flag.parse(text)
        except LoadgenError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = flag.kind  # argparse names the type in some of its messages
    return convert


def _help(flag: Flag) -> str:
    text = flag.help if flag.env_var in flag.help else f"{flag.help} (env {flag.env_var})"
    return text.replace("%", "%%")  # argparse formats help with %


def argument_kwargs(flag: Flag) -> dict[str, Any]:
    """Keyword arguments of Locust's `parser.add_argument` for one table flag."""
    kwargs: dict[str, Any] = {
        "dest": flag.dest,
        "default": flag.default,
        "env_var": flag.env_var,
        "help": _help(flag),
        "include_in_web_ui": flag.web_ui,
        "is_secret": flag.secret,
    }
    if flag.kind == "switch":
        return {**kwargs, "action": "store_true"}
    return {**kwargs, "type": _converter(flag), "choices": flag.choices or None}


def add_arguments(parser: Any) -> None:
    """Add every flag of the table that Locust takes to Locust's (configargparse) parser."""
    for flag in flags_of(LOCUST):
        parser.add_argument(flag.option, **argument_kwargs(flag))


@dataclass(frozen=True, slots=True)
class SwarmSettings:
    """The options a user class needs, read once from Locust's parsed options."""

    api: str
    model: str
    client: str
    api_key: str
    request_timeout_s: float
    stall_timeout_s: float
    itl_resolution_s: float
    input_tokens: int
    input_spread: int
    output_tokens: int
    ignore_eos: bool
    min_tokens: int
    temperature: float | None
    dataset: str
    system_prompt: str
    seed: int
    turns: int
    think_time_s: float
    rate_per_s: float
    interval_s: float

    @classmethod
    def from_options(cls, options: Any) -> SwarmSettings:
        """From Locust's parsed options, already typed by the table (None: unset)."""
        return cls(
            api=options.api,
            model=options.model or "",
            client=options.client,
            api_key=options.api_key or "",
            request_timeout_s=float(options.request_timeout),
            stall_timeout_s=float(options.stall_timeout),
            itl_resolution_s=float(options.itl_resolution),
            input_tokens=int(options.input_tokens),
            input_spread=int(options.input_spread),
            output_tokens=int(options.output_tokens),
            ignore_eos=bool(options.ignore_eos),
            min_tokens=int(options.min_tokens),
            temperature=options.temperature,
            dataset=options.dataset or "",
            system_prompt=options.system_prompt or "",
            seed=int(options.seed),
            turns=int(options.turns),
            think_time_s=float(options.think_time),
            rate_per_s=float(options.rate or 0.0),
            interval_s=float(options.interval),
        )
