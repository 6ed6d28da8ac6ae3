"""Incremental byte decoders for streamed responses: Server-Sent Events and NDJSON.

Each decoder is fed arbitrary byte chunks (a frame may be split across chunks, a chunk may hold
many frames) and returns every frame completed by that chunk, decoded from JSON (msgspec: about
5x faster than the standard library's json per token frame).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec

from loadgen.backends.base import StreamAccumulator, StreamResult

_LINE_END = re.compile(rb"\r\n|\r|\n")
_DONE = b"[DONE]"
_RAW_PREVIEW_BYTES = 200
_DATA_PREFIX = b"data: "
_decode = msgspec.json.Decoder().decode
# Recognises a whole SSE event (`data: ` + payload) that is a plain token frame: its group 1 is
# the token's text as raw JSON string bytes, free of escapes and control characters.
TokenEvent = Callable[[bytes], "re.Match[bytes] | None"]


@dataclass(slots=True)
class Decoded:
    """One complete frame: a JSON object, a plain token frame recognised without decoding
    (`text`), the SSE `[DONE]` marker, or undecodable bytes."""

    kind: Literal["frame", "token", "done", "malformed"]
    frame: dict[str, Any] | None = None
    raw: bytes = b""
    text: str = ""


class FrameDecoder(Protocol):
    """Turns byte chunks into complete frames."""

    def feed(self, chunk: bytes) -> list[Decoded]:
        """Every frame completed by `chunk`, in order."""

    def close(self) -> list[Decoded]:
        """End of stream: frames still pending. A partial last frame is dropped, so the
        accumulator sees a missing end marker and reports the stream as truncated."""

    @property
    def empty(self) -> bool:
        """Nothing held back: the next byte starts a new frame."""


def decode_json(raw: bytes) -> Decoded:
    """A JSON object as a frame; anything else (bad JSON, a list, a number) is malformed."""
    try:
        value = _decode(raw)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return Decoded("malformed", raw=raw[:_RAW_PREVIEW_BYTES])
    if not isinstance(value, dict):
        return Decoded("malformed", raw=raw[:_RAW_PREVIEW_BYTES])
    return Decoded("frame", frame=value)


class SseDecoder:
    """Server-Sent Events: `data:` lines joined until a blank line; `:` comments ignored.

    Lines end with `\\n`, `\\r\\n` or `\\r` (sse-starlette, used by llama-cpp-python, sends
    `\\r\\n`). `event:`, `id:` and `retry:` fields are ignored; `data: [DONE]` is the OpenAI end.
    A backend may pass `token_event`: an event it matches is a token, not decoded as JSON.
    """

    def __init__(self, token_event: TokenEvent | None = None) -> None:
        self._token_event = token_event
        self._buffer = b""
        self._data: list[bytes] = []  # the data lines of an event still open

    def feed(self, chunk: bytes) -> list[Decoded]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._data or b"\r" in buffer:
            return self._feed_lines(buffer)
        # The common case, '\n' line ends and no event open: split whole events at blank
        # lines; an event of one `data: ` line (every token frame) needs no line parsing.
        events = buffer.split(b"\n\n")
        self._buffer = events.pop()
        out: list[Decoded] = []
        token_event = self._token_event
        for event in events:
            if token_event is not None:
                token = _token(token_event, event)
                if token is not None:
                    out.append(token)
                    continue
            if event.startswith(_DATA_PREFIX) and b"\n" not in event:
                out.append(_payload(event[6:]))
                continue
            for line in event.split(b"\n"):
                self._line(line, out)
            self._dispatch(out)
        return out

    @property
    def empty(self) -> bool:
        return not self._buffer and not self._data

    def close(self) -> list[Decoded]:
        out = self._feed_lines(self._buffer)  # complete lines the fast path left in the buffer
        if self._buffer.endswith(b"\r"):
            self._line(self._buffer[:-1], out)
        self._buffer = b""
        self._dispatch(out)  # complete data lines that lacked only the final blank line
        return out

    def _feed_lines(self, buffer: bytes) -> list[Decoded]:
        """Line by line, any line end; keeps the partial last line in the buffer."""
        out: list[Decoded] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            # A trailing '\r' may be the first half of '\r\n': wait for the next byte.
            if match.group() == b"\r" and match.end() == len(buffer):
                break
            self._line(buffer[start : match.start()], out)
            start = match.end()
        self._buffer = buffer[start:]
        return out

    def _line(self, line: bytes, out: list[Decoded]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line.startswith(b":"):
            return
        name, sep, value = line.partition(b":")
        if name != b"data":
            return
        if not sep:
            value = b""
        self._data.append(value[1:] if value.startswith(b" ") else value)

    def _dispatch(self, out: list[Decoded]) -> None:
        if not self._data:
            return
        payload = b"\n".join(self._data)
        self._data = []
        out.append(_payload(payload))


def _token(token_event: TokenEvent, event: bytes) -> Decoded | None:
    """A plain token frame, or None: anything else takes the full decode."""
    match = token_event(event)
    if match is None:
        return None
    try:
        return Decoded("token", text=match.group(1).decode())
    except UnicodeDecodeError:  # the full decode reports it as malformed
        return None


def _payload(payload: bytes) -> Decoded:
    """An event's data: the `[DONE]` marker or a JSON frame."""
    return Decoded("done") if payload.strip() == _DONE else decode_json(payload)


class NdjsonDecoder:
    """Newline-delimited JSON (Ollama): one object per line, blank lines skipped."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Decoded]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [decode_json(line) for line in lines if line.strip()]

    @property
    def empty(self) -> bool:
        return not self._buffer

    def close(self) -> list[Decoded]:
        tail, self._buffer = self._buffer, b""
        if not tail.strip():
            return []
        decoded = decode_json(tail)
        return [decoded] if decoded.kind == "frame" else []


def dispatch(frames: list[Decoded], accumulator: StreamAccumulator, now_ns: int) -> None:
    """Hand decoded frames to an accumulator, all stamped `now_ns`."""
    for item in frames:
        if item.kind == "frame" and item.frame is not None:
            accumulator.on_frame(item.frame, now_ns)
        elif item.kind == "token":
            accumulator.on_token(item.text, now_ns)
        elif item.kind == "done":
            accumulator.on_done_marker(now_ns)
        else:
            accumulator.on_malformed(item.raw, now_ns)


class StreamParser:
    """Decoder plus accumulator for one response: what a transport drives.

    >>> parser = backend_for("openai").parser()
    >>> for chunk in response_body_chunks:
    ...     parser.feed(chunk, time.perf_counter_ns())
    >>> result = parser.finish(time.perf_counter_ns())
    """

    def __init__(
        self,
        decoder: FrameDecoder,
        accumulator: StreamAccumulator,
        token_event: bytes | None = None,
    ) -> None:
        self.decoder = decoder
        self.accumulator = accumulator
        # The regular expression (bytes) of a whole plain token event, `data: ` included, its
        # group 1 the token's text; a transport that sees one may hand the text straight to
        # `accumulator.on_token`, as the decoder would.
        self.token_event = token_event

    def feed(self, chunk: bytes, now_ns: int) -> None:
        """Bytes just read; `now_ns` is perf_counter_ns() taken right after the read."""
        dispatch(self.decoder.feed(chunk), self.accumulator, now_ns)

    def finish(self, now_ns: int) -> StreamResult:
        """The body ended (or the transport gave up): flush and close the accumulator."""
        dispatch(self.decoder.close(), self.accumulator, now_ns)
        return self.accumulator.result(now_ns)
