"""loadgen's options inside Locust: declared once, added to Locust's parser, read back as settings.

Every option also reads an environment variable (LOADGEN_<FLAG>; the API key OPENAI_API_KEY),
so `locust -f locustfiles/chat.py --api ollama` and `loadgen swarm --api ollama` take the same
names. Pure: no locust import, the parser is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLIENTS: tuple[str, ...] = ("fast", "openai")
DEFAULT_CLIENT = "fast"  # bench/client_cost.py: less CPU per streamed token, same timing

# flag, type, default, help. Types: str, int, float, bool (a switch).
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("api", str, "auto", "openai | ollama | auto (probe /api/version, else /v1/models)"),
    ("model", str, "", "model name (default: the server's first model)"),
    ("client", str, DEFAULT_CLIENT, "transport: fast (geventhttpclient) | openai (the SDK)"),
    ("request-timeout", float, 600.0, "seconds before a whole request counts as a timeout"),
    ("stall-timeout", float, 60.0, "seconds without data mid-stream before a request stalls"),
    ("input-tokens", int, 128, "synthetic prompt length in tokens (mean)"),
    ("input-spread", int, 0, "synthetic prompt length spread in tokens (std dev)"),
    ("output-tokens", int, 128, "max_tokens (num_predict for Ollama)"),
    ("ignore-eos", bool, False, "ask the server to ignore EOS so replies are max_tokens long"),
    ("min-tokens", int, 0, "min_tokens for servers that support it (0: not sent)"),
    ("temperature", float, -1.0, "sampling temperature (negative: server default)"),
    ("dataset", str, "", "JSONL prompts or ShareGPT conversations instead of synthetic prompts"),
    ("system-prompt", str, "", "a system message put first in every conversation"),
    ("seed", int, 0, "seed for prompts, think times and arrivals (runs are reproducible)"),
    ("turns", int, 1, "turns per conversation (history is carried)"),
    ("think-time", float, 0.0, "seconds a user waits between turns"),
    ("rate", float, 0.0, "open loop: Poisson arrivals per second (0: closed loop)"),
    ("levels", str, "", "steps: users per level, e.g. 1,10,50 (walked by the packaged shape)"),
    ("step-time", float, 60.0, "seconds per level"),
    ("warmup", float, 0.0, "seconds at the start of each level excluded from its window"),
    ("step-spawn-rate", float, 0.0, "users/s when moving between levels (0: reach in ~1 s)"),
    ("results", str, "", "results directory (default results/<run_id>)"),
    ("run-id", str, "", "run id (default: UTC time + random suffix)"),
    ("interval", float, 5.0, "seconds between llm_interval events and CI progress lines"),
    ("progress", str, "auto", "auto | live | lines | off"),
    ("engine", str, "", "engine label stored with the results (default: detected)"),
)


def env_name(flag: str) -> str:
    return "LOADGEN_" + flag.upper().replace("-", "_")


# Shown (editable) in the web UI's start form; the rest are fixed for the run.
WEB_UI_OPTIONS = frozenset({"input-tokens", "output-tokens", "turns", "think-time"})


def add_arguments(parser: Any) -> None:
    """Add every loadgen option to Locust's (configargparse) parser."""
    for flag, kind, default, text in OPTIONS:
        common = {
            "default": default,
            "env_var": env_name(flag),
            "help": text,
            "include_in_web_ui": flag in WEB_UI_OPTIONS,
        }
        if kind is bool:
            parser.add_argument(f"--{flag}", action="store_true", **common)
        else:
            parser.add_argument(f"--{flag}", type=kind, **common)
    parser.add_argument(
        "--api-key",
        default="",
        env_var="OPENAI_API_KEY",
        is_secret=True,
        include_in_web_ui=False,
        help="bearer token (prefer the OPENAI_API_KEY env var; never printed or stored)",
    )


@dataclass(frozen=True, slots=True)
class SwarmSettings:
    """The options a user class needs, read once from Locust's parsed options."""

    api: str
    model: str
    client: str
    api_key: str
    request_timeout_s: float
    stall_timeout_s: float
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
        temperature = float(options.temperature)
        return cls(
            api=options.api,
            model=options.model,
            client=options.client,
            api_key=options.api_key or "",
            request_timeout_s=options.request_timeout,
            stall_timeout_s=options.stall_timeout,
            input_tokens=options.input_tokens,
            input_spread=options.input_spread,
            output_tokens=options.output_tokens,
            ignore_eos=bool(options.ignore_eos),
            min_tokens=options.min_tokens,
            temperature=temperature if temperature >= 0 else None,
            dataset=options.dataset,
            system_prompt=options.system_prompt,
            seed=options.seed,
            turns=options.turns,
            think_time_s=options.think_time,
            rate_per_s=options.rate,
            interval_s=options.interval,
        )
