"""One HTTP/1.1 answer, parsed as its bytes arrive (httptools), into the backend's stream parser.

No I/O here: a reader feeds `Answer.feed` every byte it reads from the connection after the
request, each read with its stamp. The answer keeps the status and the headers a transport
needs, hands a 2xx body to the backend's StreamParser and keeps the first bytes of any other
body for its error message.

The token lane: almost every HTTP chunk of a stream holds one SSE token event. Where a read
starts at a chunk boundary with the event decoder empty, whole chunks that are plain token
events (the backend's `token_event` pattern, checked against the chunk's size line as servers
write it, in lower-case hex) go straight to the accumulator, skipping the HTTP parser's callbacks
and the SSE split; any other whole chunk goes to httptools on its own, and of a chunk cut by the
end of a read httptools gets what came and, from the next read, exactly the rest, so the lane
keeps its place between chunks. Anything it cannot frame takes the full path from there. Both
give the same frames with the same stamps (tests/unit/test_http_answer.py feeds every split of
real streams through both).
"""

from __future__ import annotations

import functools
import re

import httptools

from loadgen.backends.framing import StreamParser

ERROR_BODY_BYTES = 4096  # what a non-2xx answer's body keeps for its message
_CHUNK_HEAD = re.compile(rb"([0-9a-fA-F]{1,6})\r\n")  # a chunk's size line, no extension
_SIZE_LINE_BYTES = 8  # a size line cut by a read is at most this long
_NO_BODY_STATUSES = (204, 304)
# A token chunk's size line as servers write it (lower-case hex, no leading zero) -> its value;
# a chunk sized any other way takes the full path.
_CHUNK_SIZES = {b"%x" % n: n for n in range(1, 4096)}


class ConnectionClosed(ConnectionError):
    """The connection ended before the answer did."""


@functools.cache
def _token_chunk(token_event: bytes) -> re.Pattern[bytes]:
    """An HTTP chunk holding exactly one plain token event: group 1 the chunk's size (hex),
    group 2 the event with its blank line, group 3 the token's text."""
    return re.compile(rb"([0-9a-fA-F]{1,6})\r\n(" + token_event + rb"\n\n)\r\n")


class Answer:
    """httptools' protocol for one answer; `complete` once its last byte was parsed."""

    def __init__(self, parser: StreamParser) -> None:
        self.parser = parser
        self.status: int | None = None
        self.retry_after: str | None = None
        self.retry_after_ms: str | None = None
        self.got_bytes = False  # any byte of the answer: a stale keep-alive gives none
        self.got_body = False  # any byte of a 2xx body (the stall timeout counts from it)
        self.complete = False
        self.keep_alive = False
        self.error_body = bytearray()
        self.stamp_ns = 0  # the last read's stamp
        self._http: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._chunked = False
        self._length: int | None = None
        self._chunk_ended = False  # the last callback was the end of a chunk
        self._at_boundary = False  # the bytes parsed so far end exactly between two chunks
        self._lane = _token_chunk(parser.token_event) if parser.token_event else None
        self._decoder = parser.decoder  # the lane's per-read checks, without a lookup each
        self._on_token = parser.accumulator.on_token
        self._pending = b""  # a chunk size line the lane saw cut by the end of a read
        self._owed = 0  # bytes of a chunk that httptools got in part, still to come
        self._decoder_fed = False  # body bytes went to the decoder since it was last empty

    @property
    def ok_status(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def feed(self, data: bytes, stamp_ns: int) -> None:
        """Bytes just read, stamped `stamp_ns`; raises httptools.HttpParserError on bad HTTP."""
        self.got_bytes = True
        self.stamp_ns = stamp_ns
        if self._owed:  # the rest of a chunk the lane gave httptools in part
            owed = min(self._owed, len(data))
            self._owed -= owed
            self._feed_http(data[:owed] if owed < len(data) else data)
            data = data[owed:]
            if not data:
                return
        if self.status is None and self._lane is not None:
            head_end = data.find(b"\r\n\r\n") + 4  # the headers alone, the body to the lane
            if 4 <= head_end < len(data):
                self._feed_http(data[:head_end])
                data = data[head_end:]
        if self._pending:  # a size line the lane saw cut: it starts between two chunks
            data, self._pending = self._pending + data, b""
        elif not (self._at_boundary and self._lane is not None):
            self._feed_http(data)
            return
        taken = self._lane_take(data, stamp_ns)
        if taken:
            self.got_body = True
        if taken < len(data):
            self._feed_http(data[taken:] if taken else data)

    def _feed_http(self, data: bytes) -> None:
        http = self._http
        if http is None:  # bytes after the end of the answer: none of it, and no reuse
            self.keep_alive = False
            return
        self._chunk_ended = False
        http.feed_data(data)
        if self.complete:  # the parser refers to its answer: dropped, the answer is freed at
            self._http = None  # once, not by the garbage collector
        # A read that ends with a chunk's closing CRLF, its last callback that chunk's end,
        # leaves the parser between chunks: the next read may take the token lane.
        self._at_boundary = self._chunk_ended and data.endswith(b"\r\n") and not self.complete

    def eof(self) -> None:
        """The connection closed: a body delimited by the close ends here, any other answer
        was cut short (ConnectionClosed)."""
        if self.complete:
            return
        if self.status is not None and not self._chunked and self._length is None:
            self.on_message_complete()
            self.keep_alive = False
            return
        raise ConnectionClosed("connection closed before the end of the answer")

    def _lane_take(self, data: bytes, stamp_ns: int) -> int:
        """From a chunk boundary at the start of `data`: plain token chunks to the accumulator,
        any other whole chunk to httptools on its own (so the parser stays between chunks), of a
        chunk cut by the end of the read what came (the rest is owed to httptools from the next
        read), a size line cut by it kept for the next one. Returns how many bytes it took;
        the rest (a chunk it cannot frame, the last chunk, an event still open in the decoder)
        takes the full path."""
        lane, decoder, on_token = self._lane, self._decoder, self._on_token
        assert lane is not None
        pos, size = 0, len(data)
        if self._decoder_fed:  # httptools fed the decoder since it was last seen empty
            if not decoder.empty:
                return 0
            self._decoder_fed = False
        while pos < size:  # the decoder stays empty while only token chunks go by
            match = lane.match(data, pos)
            if match is not None:
                event_start, event_end = match.span(2)
                if _CHUNK_SIZES.get(match[1]) == event_end - event_start:
                    try:
                        text = match[3].decode()
                    except UnicodeDecodeError:  # the full path reports it
                        return pos
                    on_token(text, stamp_ns)
                    pos = event_end + 2
                    continue
            head = _CHUNK_HEAD.match(data, pos)
            if head is None:
                if size - pos <= _SIZE_LINE_BYTES and b"\n" not in data[pos:]:
                    self._pending = data[pos:]  # a size line cut by the read
                    return size
                return pos
            chunk = int(head.group(1), 16)
            end = head.end() + chunk + 2
            if chunk == 0:  # the last chunk, and its trailers: the full path
                return pos
            if end > size:  # a chunk cut by the read: what came, now; the rest, next read
                self._feed_http(data[pos:])
                self._owed = end - size
                return size
            self._feed_http(data[pos:end])
            if self.complete or not self._at_boundary or not decoder.empty:
                return end
            pos = end
        return pos

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key == b"retry-after":
            self.retry_after = value.decode("latin-1").strip()
        elif key == b"retry-after-ms":
            self.retry_after_ms = value.decode("latin-1").strip()
        elif key == b"transfer-encoding":
            self._chunked = b"chunked" in value.lower()
        elif key == b"content-length":
            self._length = int(value) if value.strip().isdigit() else None

    def on_headers_complete(self) -> None:
        assert self._http is not None  # the callbacks run inside its feed_data
        self.status = self._http.get_status_code()
        if self.status in _NO_BODY_STATUSES:
            self._length = 0
        self._chunk_ended = self._chunked  # the first chunk starts right after the headers

    def on_body(self, body: bytes) -> None:
        if self.ok_status:
            self.got_body = True
            self._decoder_fed = True
            self.parser.feed(body, self.stamp_ns)
        elif len(self.error_body) < ERROR_BODY_BYTES:
            self.error_body += body[: ERROR_BODY_BYTES - len(self.error_body)]

    def on_chunk_header(self) -> None:
        self._chunk_ended = False

    def on_chunk_complete(self) -> None:
        self._chunk_ended = True

    def on_message_complete(self) -> None:
        if self.status is not None and self.status < 200:  # an interim answer: the real one follows
            self.status, self._chunked, self._length = None, False, None
            return
        self.complete = True
        assert self._http is not None
        self.keep_alive = self._http.should_keep_alive()
