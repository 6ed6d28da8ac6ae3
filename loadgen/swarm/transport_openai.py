"""The application-like transport: the official `openai` SDK, sync client (cooperative: gevent).

Each chunk is stamped with perf_counter_ns as the SDK yields it (the frame has just been parsed)
and handed to the backend's accumulator as `chunk.model_dump()`. The SDK stops silently at the
end of the body, so a small decoder wrapper notes whether `[DONE]` arrived (else: truncated).
"""

from __future__ import annotations

import functools
import json
import platform
import ssl
import sys
import time
from collections.abc import Iterator
from typing import Any

import gevent

# httpcore2 (under openai 3.x) imports trio if installed; trio's import needs select.epoll,
# which gevent's monkey-patching removes. Nothing in this gevent process uses trio: hide it.
if "trio" not in sys.modules:
    sys.modules["trio"] = None  # type: ignore[assignment]

import openai

from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.backends.framing import StreamParser
from loadgen.retry_after import retry_after_s
from loadgen.run.tls_trust import trusting_context
from loadgen.swarm.exchange import (
    AnswerHead,
    Exchange,
    WireBackend,
    empty_result,
    failed,
    status_detail,
)

# The SDK's first request computes platform headers, and platform.processor() runs `uname -p`
# through (gevent's) subprocess, which can hang inside a running Locust user. Compute it once
# now, at import, while the locustfile loads.
platform.processor()

# Body keys the SDK's create() takes by name; everything else goes through extra_body.
_SDK_PARAMS = ("model", "messages", "stream", "stream_options", "max_tokens", "temperature", "seed")


class _Stall(Exception):
    """No chunk for longer than --stall-timeout after the first one."""


class _DoneSpy:
    """Wraps the SDK's SSE decoder to note whether the `[DONE]` end marker was seen."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.saw_done = False

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        for event in self._inner.iter_bytes(iterator):
            if event.data.startswith("[DONE]"):
                self.saw_done = True
            yield event


class _Client(openai.OpenAI):
    def _make_sse_decoder(self) -> Any:
        return _DoneSpy(super()._make_sse_decoder())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process. The SDK's own default builds one per
    client, and loading the CA store took 25 ms each: 3 s of blocked event loop for 128 users.
    It trusts what loadgen/run/tls_trust.py says (SSL_CERT_FILE / SSL_CERT_DIR honoured), as the
    fast transport does."""
    return trusting_context(ssl.create_default_context)


class OpenAISdkTransport:
    """`client.chat.completions.create(stream=True)` against `<base_url>/v1`."""

    def __init__(
        self, base_url: str, api_key: str | None, request_timeout_s: float, stall_timeout_s: float
    ) -> None:
        self._client = _Client(
            base_url=base_url.rstrip("/") + "/v1",
            api_key=api_key or "none",
            max_retries=0,  # every answer is recorded; user.py waits out a Retry-After itself
            timeout=request_timeout_s,
            http_client=openai.DefaultHttpxClient(verify=_tls_context(), timeout=request_timeout_s),
        )
        self._request_timeout_s = request_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._in_flight: tuple[StreamParser, AnswerHead] | None = None

    def close(self) -> None:
        self._client.close()

    def cut_off(self, now_ns: int) -> tuple[StreamResult, int | None]:
        """The stream in flight when its user was killed: its frames by `now_ns`, its status."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return empty_result(), None
        parser, head = in_flight
        return _so_far(parser, head.status is not None, now_ns), head.status

    def send(self, backend: WireBackend, request: ChatRequest, request_id: str) -> Exchange:
        """Stream one chat completion; every failure becomes an error class, never an exception."""
        body = backend.body(request)
        kwargs = {k: body.pop(k) for k in _SDK_PARAMS if k in body}
        parser = backend.parser()
        head = AnswerHead()
        self._in_flight = parser, head
        wall_send_unix_ns = time.time_ns()
        t_send_ns = time.perf_counter_ns()
        try:
            with gevent.Timeout(self._request_timeout_s, TimeoutError):
                result = self._stream(kwargs, body, request_id, parser, head)
        except Exception as exc:  # every failure becomes a recorded error class
            result = self._classify(exc, parser, head.status is not None)
            if isinstance(exc, openai.APIStatusError):  # raised before any chunk: its headers
                head.status = exc.status_code
                head.retry_after_s = _retry_after_s(exc)
        self._in_flight = None
        t_end_ns = time.perf_counter_ns()
        return Exchange(
            result, wall_send_unix_ns, t_send_ns, t_end_ns, head.status, head.retry_after_s
        )

    def _stream(
        self,
        kwargs: dict[str, Any],
        extra_body: dict[str, Any],
        request_id: str,
        parser: StreamParser,
        head: AnswerHead,
    ) -> StreamResult:
        stream = self._client.chat.completions.create(
            **kwargs, extra_body=extra_body or None, extra_headers={"x-request-id": request_id}
        )
        head.status = stream.response.status_code
        accumulator = parser.accumulator
        chunks = iter(stream)
        seen = False
        while True:
            # A fresh timer per chunk: gevent's Timeout started again after cancel() keeps its
            # first deadline, which would fail every stream longer than --stall-timeout.
            stall = gevent.Timeout(self._stall_timeout_s, _Stall) if seen else None
            if stall is not None:
                stall.start()
            try:
                chunk = next(chunks, None)
            finally:
                if stall is not None:
                    stall.close()
            now_ns = time.perf_counter_ns()
            if chunk is None:
                break
            accumulator.on_frame(chunk.model_dump(exclude_unset=True), now_ns)
            seen = True
        spy = getattr(stream, "_decoder", None)
        if isinstance(spy, _DoneSpy) and spy.saw_done:
            accumulator.on_done_marker(now_ns)
        return accumulator.result(now_ns)

    def _classify(self, exc: Exception, parser: StreamParser, got_headers: bool) -> StreamResult:
        now_ns = time.perf_counter_ns()
        partial = _so_far(parser, got_headers, now_ns)
        if isinstance(exc, openai.APIStatusError):
            body = exc.response.content if exc.response is not None else str(exc).encode()
            return failed(partial, "http_status", status_detail(exc.status_code, body))
        if isinstance(exc, _Stall):
            return failed(partial, "stall", f"no data for {self._stall_timeout_s:g} s mid-stream")
        if isinstance(exc, (TimeoutError, openai.APITimeoutError)):
            return failed(
                partial, "timeout", f"no complete response within {self._request_timeout_s:g} s"
            )
        if isinstance(exc, openai.APIConnectionError):
            detail = f"{type(exc).__name__}: {exc.__cause__ or exc}"
            return failed(partial, "truncated" if got_headers else "connect", detail)
        if isinstance(exc, openai.APIError):  # an error object inside the stream
            return failed(partial, "server_error", exc.message)
        if isinstance(exc, json.JSONDecodeError):
            return failed(partial, "malformed", f"undecodable frame: {exc}")
        return failed(partial, "malformed", f"{type(exc).__name__}: {exc}")


def _so_far(parser: StreamParser, got_headers: bool, now_ns: int) -> StreamResult:
    """What a stream that failed or was cut off had brought by `now_ns` (nothing before its
    headers)."""
    return parser.accumulator.result(now_ns) if got_headers else empty_result()


def _retry_after_s(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    return retry_after_s(headers.get("retry-after"), headers.get("retry-after-ms"), time.time())
