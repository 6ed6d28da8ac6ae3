"""The lean transport: geventhttpclient, reading the body as it arrives and parsing frames at once.

Each read hands its bytes to the backend's decoder and stamps the frames with the
perf_counter_ns taken right after the read, so TTFT is the frame's arrival, never the headers'.
The process's BodyReader reads every body (one greenlet, one epoll); the user's greenlet sends
the request, reads the headers and waits for the end of its stream.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.ssl
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError, HTTPSocketPoolResponse

from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.backends.framing import StreamParser
from loadgen.retry_after import retry_after_s
from loadgen.run.tls_trust import trusting_context
from loadgen.swarm.body_reader import READ_BYTES, BodyReader, Stall
from loadgen.swarm.exchange import (
    AnswerHead,
    Exchange,
    WireBackend,
    empty_result,
    failed,
    status_detail,
)

_MAX_ERROR_BODY_BYTES = 4096


class _RequestTimeout(Exception):
    """The whole request ran past --request-timeout."""


class FastTransport:
    """One keep-alive connection per user; POSTs a chat request and streams the reply."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        request_timeout_s: float,
        stall_timeout_s: float,
        connect_timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._request_timeout_s = request_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._headers = {"content-type": "application/json", "accept": "*/*"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client = self._connect()
        self._reused = False  # True once the current connection has carried a request

    def _connect(self) -> HTTPClient:
        return HTTPClient(
            self._host,
            self._port,
            ssl=self._https,
            ssl_context_factory=_tls_context if self._https else None,
            connection_timeout=self._connect_timeout_s,
            network_timeout=self._request_timeout_s,
            concurrency=1,
            block_size=READ_BYTES,
        )

    def close(self) -> None:
        self._client.close()

    def send(self, backend: WireBackend, request: ChatRequest, request_id: str) -> Exchange:
        """POST `request`, stream the answer into the backend's parser; never raises for I/O."""
        payload = json.dumps(backend.body(request)).encode()
        headers = {**self._headers, "x-request-id": request_id}
        for attempt in (1, 2):
            parser = backend.parser()
            head = AnswerHead()
            wall_send_unix_ns = time.time_ns()
            t_send_ns = time.perf_counter_ns()
            reused, self._reused = self._reused, True
            try:
                with gevent.Timeout(self._request_timeout_s, _RequestTimeout):
                    result = self._exchange(backend, payload, headers, parser, head)
                break
            except Exception as exc:  # every failure becomes a recorded error class
                self._client.close()
                self._client = self._connect()
                self._reused = False
                # A kept-alive connection the server closed just before our request arrived
                # (no response byte): the request was never served, so send it once more on a
                # fresh connection, as HTTP clients do. Any other failure is recorded as is.
                got_headers = head.status is not None
                stale = reused and not got_headers and isinstance(exc, (OSError, HTTPParseError))
                if stale and attempt == 1:
                    continue
                result = _classify(exc, parser, got_headers, time.perf_counter_ns(), self)
                break
        t_end_ns = time.perf_counter_ns()
        return Exchange(
            result, wall_send_unix_ns, t_send_ns, t_end_ns, head.status, head.retry_after_s
        )

    def _exchange(
        self,
        backend: WireBackend,
        payload: bytes,
        headers: dict[str, str],
        parser: StreamParser,
        head: AnswerHead,
    ) -> StreamResult:
        path = self._prefix + backend.path()
        response = self._client.request("POST", path, body=payload, headers=headers)
        head.status = response.status_code
        if not 200 <= response.status_code < 300:
            head.retry_after_s = retry_after_s(
                _header(response, "retry-after"), _header(response, "retry-after-ms"), time.time()
            )
            body = response.read(_MAX_ERROR_BODY_BYTES)
            response.release()
            return failed(empty_result(), "http_status", status_detail(response.status_code, body))
        return BodyReader.shared().stream(response, parser, self._stall_timeout_s)

    @property
    def limits(self) -> tuple[float, float]:
        """(request timeout, stall timeout) in seconds."""
        return self._request_timeout_s, self._stall_timeout_s


@functools.cache
def _shared_tls_context() -> Any:
    return trusting_context(gevent.ssl.create_default_context)


def _tls_context(**_cafile: Any) -> Any:
    """geventhttpclient's context factory (its `cafile` ignored): one gevent context for every
    connection of the process, trusting what loadgen/run/tls_trust.py says. Its own default
    trusts one bundle picked at import, never SSL_CERT_DIR, and loads it for each connection."""
    return _shared_tls_context()


def _header(response: HTTPSocketPoolResponse, name: str) -> str | None:
    value = response.get(name)
    return value[-1] if isinstance(value, list) else value


def _classify(
    exc: Exception, parser: StreamParser, got_headers: bool, now_ns: int, transport: FastTransport
) -> StreamResult:
    request_timeout_s, stall_timeout_s = transport.limits
    partial = parser.finish(now_ns) if got_headers else empty_result()
    if isinstance(exc, _RequestTimeout):
        return failed(partial, "timeout", f"no complete response within {request_timeout_s:g} s")
    if isinstance(exc, Stall):
        return failed(partial, "stall", f"no data for {stall_timeout_s:g} s mid-stream")
    if isinstance(exc, TimeoutError):
        return failed(partial, "timeout", f"socket timeout: {exc}")
    if not got_headers and isinstance(exc, (OSError, HTTPParseError)):
        return failed(partial, "connect", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (OSError, HTTPParseError)):
        return failed(partial, "truncated", f"connection lost mid-stream: {exc}")
    return failed(partial, "malformed", f"{type(exc).__name__}: {exc}")
