"""What a transport returns for one request: the parsed stream plus the wire-level facts.

Pure data and helpers shared by both transports; no I/O here.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from loadgen.backends.base import ChatRequest, StreamResult, server_message
from loadgen.backends.framing import StreamParser
from loadgen.records import ErrorType

_DETAIL_CHARS = 200
_ERROR_BODY_BYTES = 16_384  # an error body read for its message; longer ones are cut
_REQUEST_ID_NAMESPACE = uuid.UUID("6c6f6164-6765-4e2d-8000-726571756573")


def request_id(worker: str, seq: int) -> str:
    """The X-Request-ID of request `seq` of `worker`: a UUID derived from both, so server logs and
    the simulator's truth file map back to a record. A UUID because servers may validate it:
    llama-cpp-python's server answers 400 with an empty body to any other value."""
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{worker}-{seq}"))


class WireBackend(Protocol):
    """A wire protocol, as the session and the transports use it; loadgen.backends.openai and
    loadgen.backends.ollama implement it (`loadgen.backends.backend_for` picks one)."""

    def path(self) -> str:
        """The request path, e.g. '/v1/chat/completions' or '/api/chat'."""

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON request body."""

    def parser(self) -> StreamParser:
        """A fresh decoder + accumulator for one response: feed it raw body chunks."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response: the stream's timings and counts, and when it was sent."""

    result: StreamResult
    wall_send_unix_ns: int
    t_send_ns: int
    t_end_ns: int
    http_status: int | None
    retry_after_s: float | None = None  # the answer's Retry-After, in seconds


@dataclass(slots=True)
class AnswerHead:
    """What a transport learns from the answer's status line and headers, as it learns it."""

    status: int | None = None
    retry_after_s: float | None = None


def failed(partial: StreamResult, error_type: ErrorType, detail: str) -> StreamResult:
    """`partial` (what was parsed before the failure) marked as failed with one error class.

    An error the parser already found (an error frame, a malformed frame) wins over the
    transport's; the parser's own "truncated" (no end marker yet) gives way to the real cause.
    """
    if not partial.ok and partial.error_type != "truncated":
        return partial
    short = " ".join(detail.split())[:_DETAIL_CHARS] or error_type
    return dataclasses.replace(partial, ok=False, error_type=error_type, error_detail=short)


def empty_result() -> StreamResult:
    """A result with nothing received (the request failed before any frame)."""
    return StreamResult(
        t_first_ns=None,
        t_first_output_ns=None,
        t_last_ns=None,
        frame_times_ns=(),
        n_in=None,
        n_in_source="none",
        n_out=0,
        n_out_source="none",
        finish_reason=None,
        text="",
        ok=True,
    )


def status_detail(status: int, body: bytes) -> str:
    """'HTTP 503: <the server's message>' for a non-2xx response: the message of a JSON error
    body (vLLM's, OpenAI's or Ollama's), else the body's first bytes."""
    return f"HTTP {status}: {server_message(body[:_ERROR_BODY_BYTES])[:_DETAIL_CHARS]}"
