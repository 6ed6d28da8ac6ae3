"""Ollama's native /api/chat: request body and NDJSON stream parser.

Frames carry `message.content`, `message.thinking` (reasoning) or `message.tool_calls`; the last
one has `done: true`, `done_reason` and server timings in ns. `{"error": "..."}` is a failure.
"""

from __future__ import annotations

from typing import Any

from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.backends.framing import NdjsonDecoder, StreamParser
from loadgen.backends.stream_state import StreamState, TokenCounts, malformed_detail
from loadgen.records import Api, OllamaTimings

CHAT_PATH = "/api/chat"


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    return value if isinstance(value, int) else 0


def ollama_timings(frame: dict[str, Any]) -> OllamaTimings:
    """The final frame's durations; a missing field (Ollama omits some on cache hits) is 0."""
    return OllamaTimings(
        total_duration_ns=_int(frame, "total_duration"),
        load_duration_ns=_int(frame, "load_duration"),
        prompt_eval_count=_int(frame, "prompt_eval_count"),
        prompt_eval_duration_ns=_int(frame, "prompt_eval_duration"),
        eval_count=_int(frame, "eval_count"),
        eval_duration_ns=_int(frame, "eval_duration"),
    )


def _counts(final: dict[str, Any] | None) -> TokenCounts:
    if final is None:
        return TokenCounts()
    n_in, n_out = final.get("prompt_eval_count"), final.get("eval_count")
    return TokenCounts(
        n_in=n_in if isinstance(n_in, int) else None,
        n_in_source="eval_count" if isinstance(n_in, int) else "none",
        n_out=n_out if isinstance(n_out, int) else None,
        n_out_source="eval_count" if isinstance(n_out, int) else "none",
    )


def _take_message(state: StreamState, message: Any, now_ns: int) -> None:
    if not isinstance(message, dict):
        return
    content = message.get("content") if isinstance(message.get("content"), str) else ""
    thinking = message.get("thinking") if isinstance(message.get("thinking"), str) else ""
    tool_calls = bool(message.get("tool_calls"))
    if content or thinking or tool_calls:
        state.token_frame(now_ns, output=bool(content) or tool_calls, text=content or "")


class OllamaAccumulator:
    """Turns /api/chat NDJSON frames into a StreamResult."""

    def __init__(self) -> None:
        self._state = StreamState()
        self._final: dict[str, Any] | None = None

    def on_frame(self, frame: dict[str, Any], now_ns: int) -> None:
        if self._state.ended:
            return
        if frame.get("error"):
            self._state.fail("server_error", str(frame["error"]))
            return
        _take_message(self._state, frame.get("message"), now_ns)
        if frame.get("done") is True:
            self._final = frame
            self._state.ended = True
            if frame.get("done_reason"):
                self._state.finish_reason = str(frame["done_reason"])

    @property
    def token_frames(self) -> int:
        return self._state.token_frames

    def on_token(self, text: str, now_ns: int) -> None:
        """A message of content alone (NDJSON frames are always decoded, so none comes here)."""
        _take_message(self._state, {"content": text}, now_ns)

    def on_done_marker(self, now_ns: int) -> None:
        """Ollama has no separate end marker; `done: true` ends the stream."""

    def on_malformed(self, raw: bytes, now_ns: int) -> None:
        self._state.fail("malformed", malformed_detail(raw))

    def result(self, now_ns: int) -> StreamResult:
        timings = ollama_timings(self._final) if self._final is not None else None
        return self._state.result(_counts(self._final), timings)


class OllamaBackend:
    """POST /api/chat with NDJSON streaming.

    `max_tokens`, `seed` and `temperature` go to `options` as num_predict, seed, temperature.
    `ignore_eos` and `min_tokens` have no Ollama equivalent and are not sent. `extra_body` is
    merged last (its `options` merge into ours), e.g. `{"think": true, "keep_alive": "5m"}`.
    """

    api: Api = "ollama"

    def path(self) -> str:
        return CHAT_PATH

    def body(self, request: ChatRequest) -> dict[str, Any]:
        options = {
            "num_predict": request.max_tokens,
            "seed": request.seed,
            "temperature": request.temperature,
        }
        options = {k: v for k, v in options.items() if v is not None}
        extra = dict(request.extra_body)
        if isinstance(extra.get("options"), dict):
            options.update(extra.pop("options"))
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [dict(m) for m in request.messages],
            "stream": request.stream,
        }
        if options:
            body["options"] = options
        body.update(extra)
        return body

    def parser(self) -> StreamParser:
        return StreamParser(NdjsonDecoder(), OllamaAccumulator())
