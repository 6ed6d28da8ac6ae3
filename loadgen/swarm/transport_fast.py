"""The lean transport: HTTP/1.1 on one keep-alive gevent socket per user, answers parsed by
httptools as they arrive.

The process's BodyReader reads every answer from its first byte (one greenlet, one epoll) and
stamps each read with the kernel's receive time, so TTFT is the frame's arrival at the socket,
never the headers' and never the moment the process got round to reading it. The user's
greenlet connects, sends the request and waits for the end of the answer.
"""

from __future__ import annotations

import functools
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.socket
import gevent.ssl
import httptools
import msgspec

from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.flags import ITL_RESOLUTION_S
from loadgen.retry_after import retry_after_s
from loadgen.run.tls_trust import trusting_context
from loadgen.swarm.body_reader import BodyReader, Stall, ask_kernel_stamps
from loadgen.swarm.exchange import Exchange, WireBackend, empty_result, failed, status_detail
from loadgen.swarm.http_answer import Answer

_USER_AGENT = "loadgen"


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
        itl_resolution_s: float = ITL_RESOLUTION_S,
    ) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._request_timeout_s = request_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._itl_resolution_s = itl_resolution_s
        self._connect_timeout_s = connect_timeout_s
        default_port = 443 if self._https else 80
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = host if self._port == default_port else f"{host}:{self._port}"
        head = [f"Host: {authority}", f"User-Agent: {_USER_AGENT}"]
        head += ["Content-Type: application/json", "Accept: */*"]
        if api_key:
            head.append(f"Authorization: Bearer {api_key}")
        self._head = "\r\n".join(head)
        self._sock: Any = None  # the kept-alive connection, None until the first request
        self._answer: Answer | None = None  # the answer in flight

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> Any:
        sock = gevent.socket.create_connection(
            (self._host, self._port), timeout=self._connect_timeout_s
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._https:
            sock = _shared_tls_context().wrap_socket(sock, server_hostname=self._host)
        sock.settimeout(self._request_timeout_s)
        ask_kernel_stamps(sock)
        return sock

    def request_bytes(self, path: str, payload: bytes, request_id: str) -> bytes:
        head = f"POST {self._prefix}{path} HTTP/1.1\r\n{self._head}\r\n"
        head += f"Content-Length: {len(payload)}\r\nX-Request-ID: {request_id}\r\n\r\n"
        return head.encode("latin-1") + payload

    def send(self, backend: WireBackend, request: ChatRequest, request_id: str) -> Exchange:
        """POST `request`, stream the answer into the backend's parser; never raises for I/O."""
        wire = self.request_bytes(backend.path(), _json(backend.body(request)), request_id)
        for attempt in (1, 2):
            answer = self._answer = Answer(backend.parser())
            wall_send_unix_ns = time.time_ns()
            t_send_ns = time.perf_counter_ns()
            reused = self._sock is not None
            reader = BodyReader.shared()
            try:
                with gevent.Timeout(self._request_timeout_s, _RequestTimeout):
                    if self._sock is None:
                        self._sock = self._connect()
                    reader.exchange(
                        self._sock, wire, answer, self._stall_timeout_s, self._itl_resolution_s
                    )
                if not answer.keep_alive:
                    self.close()
                result = _result(answer)
                reader.note_gap(
                    result.t_first_ns,
                    result.t_last_ns,
                    len(result.frame_times_ns),
                    self._itl_resolution_s,
                )
                break
            except Exception as exc:  # every failure becomes a recorded error class
                self.close()
                # A kept-alive connection the server closed just before our request arrived
                # (no answer byte): the request was never served, so send it once more on a
                # fresh connection, as HTTP clients do. Any other failure is recorded as is.
                stale = reused and not answer.got_bytes and isinstance(exc, _WIRE_ERRORS)
                if stale and attempt == 1:
                    continue
                result = _classify(exc, answer, time.perf_counter_ns(), self)
                break
        self._answer = None
        # An answer that ended: when its last byte arrived (the last read's stamp).
        t_end_ns = answer.stamp_ns if answer.complete else time.perf_counter_ns()
        return Exchange(
            result,
            wall_send_unix_ns,
            t_send_ns,
            t_end_ns,
            answer.status,
            _retry_after(answer) if answer.status is not None else None,
        )

    def cut_off(self, now_ns: int) -> tuple[StreamResult, int | None]:
        """The answer in flight when its user was killed: the frames it had brought (a 2xx
        body's) by `now_ns`, and its status."""
        answer, self._answer = self._answer, None
        if answer is None:
            return empty_result(), None
        return _so_far(answer, now_ns), answer.status

    @property
    def limits(self) -> tuple[float, float]:
        """(request timeout, stall timeout) in seconds."""
        return self._request_timeout_s, self._stall_timeout_s


_WIRE_ERRORS = (OSError, httptools.HttpParserError)
_json = msgspec.json.encode  # the request body: compact JSON, a fifth of json.dumps' cost


def _result(answer: Answer) -> StreamResult:
    if answer.ok_status:
        return answer.parser.finish(answer.stamp_ns)
    assert answer.status is not None
    detail = status_detail(answer.status, bytes(answer.error_body))
    return failed(empty_result(), "http_status", detail)


def _so_far(answer: Answer, now_ns: int) -> StreamResult:
    """What an answer that failed or was cut off had brought by `now_ns`: a 2xx body's frames,
    nothing otherwise."""
    return answer.parser.finish(now_ns) if answer.ok_status else empty_result()


def _retry_after(answer: Answer) -> float | None:
    if answer.ok_status:
        return None
    return retry_after_s(answer.retry_after, answer.retry_after_ms, time.time())


@functools.cache
def _shared_tls_context() -> Any:
    return trusting_context(gevent.ssl.create_default_context)


def _classify(
    exc: Exception, answer: Answer, now_ns: int, transport: FastTransport
) -> StreamResult:
    request_timeout_s, stall_timeout_s = transport.limits
    got_headers = answer.status is not None
    if got_headers and not answer.ok_status:  # an error answer cut short: its status says it
        return _result(answer)
    partial = _so_far(answer, now_ns)  # past the line above, headers mean a 2xx answer
    if isinstance(exc, _RequestTimeout):
        return failed(partial, "timeout", f"no complete response within {request_timeout_s:g} s")
    if isinstance(exc, Stall):
        return failed(partial, "stall", f"no data for {stall_timeout_s:g} s mid-stream")
    if isinstance(exc, TimeoutError):
        return failed(partial, "timeout", f"socket timeout: {exc}")
    if not got_headers and isinstance(exc, _WIRE_ERRORS):
        return failed(partial, "connect", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, _WIRE_ERRORS):
        return failed(partial, "truncated", f"connection lost mid-stream: {exc}")
    return failed(partial, "malformed", f"{type(exc).__name__}: {exc}")
