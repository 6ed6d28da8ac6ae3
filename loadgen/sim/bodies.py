"""Request bodies of both APIs, validated into one SimRequest; bad bodies become BadRequest.

OpenAI/vLLM: `max_tokens` (or `max_completion_tokens`), `min_tokens`, `ignore_eos`, `seed`,
`stream`, `stream_options.include_usage` / `continuous_usage_stats`. Ollama: `stream` (default
true), `options.num_predict` (-1: until EOS), `options.seed`; `ignore_eos` and `min_tokens` are
accepted at the top level or in `options` as simulator extensions; `keep_alive` as Ollama reads it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from loadgen.records import Api
from loadgen.sim.profiles import Profile
from loadgen.sim.residency import parse_keep_alive
from loadgen.tokens import count_tokens

Kind = Literal["chat", "completion"]


class BadRequest(Exception):
    """A body the real server would refuse with 400; the message is shown to the client."""


@dataclass(frozen=True, slots=True)
class SimRequest:
    """What the engine must do for one request, whichever API it came through."""

    api: Api
    kind: Kind
    model: str
    stream: bool
    tokens_in: int
    max_tokens: int | None
    min_tokens: int
    ignore_eos: bool
    seed: int | None
    include_usage: bool = False
    continuous_usage: bool = False
    keep_alive_s: float | None = None  # Ollama's keep_alive (sim/residency.py)


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _int(value: Any, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer")
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _bool(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be a boolean")
    return value


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")
    return model


def _content_tokens(content: Any) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):  # OpenAI content parts
        return sum(count_tokens(str(p.get("text", ""))) for p in content if isinstance(p, dict))
    raise BadRequest("message content must be a string or a list of parts")


def _messages_tokens(messages: Any) -> int:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list")
    total = 0
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest("each message must be an object with a role")
        total += _content_tokens(m.get("content"))
    return total


def _prompt_tokens(prompt: Any) -> int:
    if isinstance(prompt, str):
        return count_tokens(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        if len(prompt) > 1:
            raise BadRequest("only one prompt per request is supported")
        return count_tokens(prompt[0])
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return len(prompt)  # token ids
    raise BadRequest("prompt must be a string, a list of one string, or token ids")


def parse_openai(body: Any, kind: Kind) -> SimRequest:
    """POST /v1/chat/completions or /v1/completions."""
    b = _obj(body)
    model = _model(b)
    tokens_in = (
        _messages_tokens(b.get("messages")) if kind == "chat" else _prompt_tokens(b.get("prompt"))
    )
    if _int(b.get("n"), "n", 1) not in (None, 1):
        raise BadRequest("n > 1 is not supported by the simulator")
    max_tokens = _int(b.get("max_completion_tokens"), "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _int(b.get("max_tokens"), "max_tokens", 1)
    opts = b.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise BadRequest("stream_options must be an object")
    stream = _bool(b.get("stream"), "stream", False)
    if b.get("stream_options") and not stream:
        raise BadRequest("Stream options can only be defined when `stream=True`.")
    return SimRequest(
        api="openai",
        kind=kind,
        model=model,
        stream=stream,
        tokens_in=tokens_in,
        max_tokens=max_tokens,
        min_tokens=_int(b.get("min_tokens"), "min_tokens", 0) or 0,
        ignore_eos=_bool(b.get("ignore_eos"), "ignore_eos", False),
        seed=_int(b.get("seed"), "seed", -(2**63)),
        include_usage=_bool(opts.get("include_usage"), "include_usage", False),
        continuous_usage=_bool(opts.get("continuous_usage_stats"), "continuous_usage_stats", False),
    )


def parse_ollama(body: Any, kind: Kind) -> SimRequest:
    """POST /api/chat (kind 'chat') or /api/generate (kind 'completion')."""
    b = _obj(body)
    model = _model(b)
    if kind == "chat":
        tokens_in = _messages_tokens(b.get("messages"))
    else:
        prompt, system = b.get("prompt", ""), b.get("system", "")
        if not isinstance(prompt, str) or not isinstance(system, str):
            raise BadRequest("prompt and system must be strings")
        tokens_in = count_tokens(prompt) + count_tokens(system)
    options = b.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("options must be an object")
    num_predict = _int(options.get("num_predict"), "num_predict", -2)
    max_tokens = None if num_predict is None or num_predict < 0 else max(1, num_predict)

    def opt(name: str) -> Any:
        return options.get(name, b.get(name))

    try:
        keep_alive_s = parse_keep_alive(b.get("keep_alive"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None

    return SimRequest(
        api="ollama",
        kind=kind,
        model=model,
        stream=_bool(b.get("stream"), "stream", True),
        tokens_in=tokens_in,
        max_tokens=max_tokens,
        min_tokens=_int(opt("min_tokens"), "min_tokens", 0) or 0,
        ignore_eos=_bool(opt("ignore_eos"), "ignore_eos", False),
        seed=_int(options.get("seed"), "seed", -(2**63)),
        keep_alive_s=keep_alive_s,
    )


def output_plan(req: SimRequest, profile: Profile, seed: int) -> tuple[int, str]:
    """How many tokens to generate and why it stops ('stop' = EOS, 'length' = the cap)."""
    room = profile.max_model_len - req.tokens_in
    if room < 1:
        raise BadRequest(
            f"This model's maximum context length is {profile.max_model_len} tokens. "
            f"However, your request has {req.tokens_in} input tokens."
        )
    cap = min(req.max_tokens, room) if req.max_tokens is not None else room
    if req.ignore_eos:
        return cap, "length"
    natural = random.Random(seed).randint(profile.eos_min_tokens, profile.eos_max_tokens)
    n = max(natural, req.min_tokens)
    return (cap, "length") if n >= cap else (n, "stop")
