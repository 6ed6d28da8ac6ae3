"""OpenAI-compatible chat completions (vLLM, SGLang, TGI, llama.cpp): request body and SSE parser.

Quirks handled: vLLM's role-only first chunk (`content: ""` is not content), `reasoning_content`
/ `reasoning` deltas, a usage-only last chunk with `choices: []` (or usage on every chunk with
`continuous_usage_stats`: the last one wins), llama.cpp's final `timings`, and error frames.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.backends.framing import SseDecoder, StreamParser
from loadgen.backends.stream_state import StreamState, TokenCounts, malformed_detail
from loadgen.records import Api

CHAT_PATH = "/v1/chat/completions"

# The event almost every stream is made of, as vLLM and the simulator write it: one choice whose
# delta holds only non-empty content, no finish_reason, no usage. Matching it costs about what a
# JSON decode does, and it skips the frame's dict and its walk. Anything else (escapes in the
# text, reasoning, tool calls, usage, finish_reason, another key order, an id or model name
# outside printable ASCII) takes the full decode.
TOKEN_EVENT = (
    rb'data: \{"id":"[\x20\x21\x23-\x5b\x5d-\x7e]*","object":"chat\.completion\.chunk",'
    rb'"created":(?:0|[1-9][0-9]*),"model":"[\x20\x21\x23-\x5b\x5d-\x7e]*",'
    rb'"choices":\[\{"index":0,"delta":\{"content":"([^"\\\x00-\x1f]+)"\},'
    rb'"logprobs":null,"finish_reason":null\}\]\}'
)
_TOKEN_EVENT = re.compile(TOKEN_EVENT).fullmatch


def error_message(frame: dict[str, Any]) -> str | None:
    """The error a frame carries (`{"error": ...}` or vLLM's `{"object": "error"}`), else None."""
    error = frame.get("error")
    if error:
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    if frame.get("object") == "error":
        return str(frame.get("message") or frame)
    return None


def _nonempty_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _first_choice(frame: dict[str, Any]) -> dict[str, Any] | None:
    choices = frame.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _take_message(state: StreamState, message: Any, now_ns: int) -> None:
    """One streamed `delta` into the state."""
    if not isinstance(message, dict):
        return
    content = message.get("content")
    if content and isinstance(content, str):  # a token: the frame almost every stream is made of
        state.token_frame(now_ns, output=True, text=content)
        return
    content = _nonempty_str(content)
    reasoning = _nonempty_str(message.get("reasoning_content")) or _nonempty_str(
        message.get("reasoning")
    )
    tool_calls = bool(message.get("tool_calls"))
    if content or reasoning or tool_calls:
        state.token_frame(now_ns, output=bool(content) or tool_calls, text=content)


def server_counts(usage: dict[str, Any] | None, timings: dict[str, Any] | None) -> TokenCounts:
    """Counts from `usage`, else llama.cpp's `timings` (prompt_n/predicted_n); both are server
    counts, so both are recorded with source "usage"."""
    n_in = n_out = None
    if usage is not None:
        n_in, n_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if timings is not None:
        n_in = n_in if isinstance(n_in, int) else timings.get("prompt_n")
        n_out = n_out if isinstance(n_out, int) else timings.get("predicted_n")
    n_in = n_in if isinstance(n_in, int) else None
    n_out = n_out if isinstance(n_out, int) else None
    return TokenCounts(
        n_in=n_in,
        n_in_source="usage" if n_in is not None else "none",
        n_out=n_out,
        n_out_source="usage" if n_out is not None else "none",
    )


class OpenAIAccumulator:
    """Turns `chat.completion.chunk` frames into a StreamResult."""

    def __init__(self) -> None:
        self._state = StreamState()
        self._usage: dict[str, Any] | None = None
        self._timings: dict[str, Any] | None = None
        # A frame that carries finish_reason and usage together (transformers serve's last):
        # the token count then, -1 for none; it closes the stream if no frame came after it.
        self._closing_at = -1
        # A plain token frame (the token lane's, and the decoder's): straight to the state.
        self.on_token: Callable[[str, int], None] = self._state.content

    def on_frame(self, frame: dict[str, Any], now_ns: int) -> None:
        if self._state.ended:
            return
        self._closing_at = -1
        error = error_message(frame)
        if error is not None:
            self._state.fail("server_error", error)
            return
        usage, timings = frame.get("usage"), frame.get("timings")
        if isinstance(usage, dict):
            self._usage = usage
        if isinstance(timings, dict):
            self._timings = timings
        choice = _first_choice(frame)
        if choice is None:
            return
        _take_message(self._state, choice.get("delta"), now_ns)
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self._state.finish_reason = str(finish_reason)
            # transformers serve (5.x) never sends [DONE]: its last frame carries finish_reason
            # and usage together, which only a server's final frame does, so a clean close after
            # it is a complete stream. A close after any other frame is still truncated.
            if "usage" in frame:
                self._closing_at = self._state.token_frames

    @property
    def token_frames(self) -> int:
        return self._state.token_frames

    def on_done_marker(self, now_ns: int) -> None:
        self._state.ended = True

    def on_malformed(self, raw: bytes, now_ns: int) -> None:
        self._state.fail("malformed", malformed_detail(raw))

    def result(self, now_ns: int) -> StreamResult:
        closing = self._closing_at == self._state.token_frames
        if closing and self._state.error_type is None:
            self._state.ended = True
        if self._state.ended and self._state.finish_reason is None:
            # llama-cpp-python's server ends a request that a newer one interrupts with [DONE]
            # and no finish_reason: the answer was cut short, whatever the end marker says.
            self._state.fail("truncated", "stream ended without a finish_reason")
        return self._state.result(server_counts(self._usage, self._timings))


class OpenAIBackend:
    """POST /v1/chat/completions with SSE streaming.

    `ignore_eos` and `min_tokens` are sent only when set: many servers reject unknown fields
    (transformers serve answers 422). `extra_body` is merged last; a key set to None there
    removes a default field (e.g. `{"stream_options": None}` for servers that reject it).
    """

    api: Api = "openai"

    def path(self) -> str:
        return CHAT_PATH

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "stream": request.stream,
        }
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        optional = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "min_tokens": request.min_tokens,
            "ignore_eos": True if request.ignore_eos else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        body.update(request.extra_body)
        return {k: v for k, v in body.items() if v is not None}

    def parser(self) -> StreamParser:
        return StreamParser(SseDecoder(_TOKEN_EVENT), OpenAIAccumulator(), TOKEN_EVENT)
