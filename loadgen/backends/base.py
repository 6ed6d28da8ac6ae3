"""What goes in and out of a wire protocol: the chat request, the parsed stream, the accumulator.

Transports (openai SDK, loadgen's fast one) do the I/O; they hand each decoded frame (a JSON
object) to a `StreamAccumulator` together with the perf_counter_ns at which it was fully parsed.
The accumulator is pure: it never reads a clock itself, so tests drive it with a fake one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadgen.records import ErrorType, OllamaTimings, TokenSource

# The header of loadgen's one preflight request before a run (run/preflight.py): the simulator
# serves it but leaves it out of its truth file and fault draws; real engines ignore it.
PREFLIGHT_HEADER = "X-Loadgen-Preflight"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What one simulated user asks for, independent of the wire protocol."""

    model: str
    messages: tuple[dict[str, str], ...]  # [{"role": "user", "content": "..."}]
    max_tokens: int | None = None
    ignore_eos: bool = False  # vLLM/sim extension; Ollama has no equivalent
    min_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    stream: bool = True
    extra_body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamResult:
    """Timing and count fields of a RequestRecord, as parsed from one response stream."""

    t_first_ns: int | None
    t_first_output_ns: int | None
    t_last_ns: int | None
    frame_times_ns: tuple[int, ...]
    n_in: int | None
    n_in_source: TokenSource
    n_out: int
    n_out_source: TokenSource
    finish_reason: str | None
    text: str  # the assistant's visible reply (for multi-turn history)
    ok: bool
    error_type: ErrorType | None = None
    error_detail: str | None = None
    ollama: OllamaTimings | None = None
    token_frames: int = 0  # frames carrying content, reasoning or a tool call


class StreamAccumulator(Protocol):
    """Consumes decoded frames of one response in order."""

    def on_frame(self, frame: dict[str, Any], now_ns: int) -> None:
        """One decoded JSON frame (an SSE `data:` object or an NDJSON line)."""

    def on_token(self, text: str, now_ns: int) -> None:
        """A frame that carries only a token's text (`text` not empty), recognised by its bytes:
        the same as `on_frame` with the decoded frame."""

    def on_done_marker(self, now_ns: int) -> None:
        """SSE `data: [DONE]` (OpenAI); Ollama signals the end with `done: true` in a frame."""

    def on_malformed(self, raw: bytes, now_ns: int) -> None:
        """A frame that could not be decoded."""

    def result(self, now_ns: int) -> StreamResult:
        """Close the stream; a missing end marker becomes error_type='truncated'."""

    @property
    def token_frames(self) -> int:
        """Token-bearing frames so far (the first one is the TTFT's)."""


def server_message(body: bytes) -> str:
    """The message of an error body: vLLM's `message`, OpenAI's `error.message`, Ollama's
    `error`; else the body's text (one line, shortened)."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if data.get("message"):
            return str(data["message"])
    return " ".join(text.split())[:200] or "(empty body)"
