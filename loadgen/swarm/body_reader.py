"""One greenlet reads every answer of the process, through one epoll.

A greenlet per stream that waits on its own socket costs about 12 us of CPU per frame at a real
engine's pace (a failed recv, a timer, two switches and two epoll_ctl per wait); one reader that
polls all sockets at once costs about 5. The reader reads each answer from its first byte, the
status line included, and feeds it to its `Answer` (loadgen/swarm/http_answer.py); the user
greenlet sends the request and waits only for the end of the answer.

Stamps come from the kernel: on Linux every plain TCP socket asks for receive timestamps
(SO_TIMESTAMPNS), so a read is stamped with the moment its last packet reached the socket, not
the moment the reader got round to it. That lets the reader wait a tick after each batch, so
that one wake-up reads every stream that had a frame in the meantime instead of waking once per
frame. A stream waits in one of two lanes: until its first token frame it is read as soon as it
is readable (its TTFT read holds as few packets as possible), from then on once per tick. The
tick is a quarter of the usual gap between one stream's frames, so such frames seldom share a
read, and never less than the ITL resolution (--itl-resolution, 2 ms by default): frames that
come closer together than that share a read and its stamp. A read costs more CPU than anything
else per frame, so the floor sets what a fast stream costs (docs/performance.md); gevent's hub
(libev, epoll) waits at least 1 ms, the least resolution there is. Where the kernel gives no
stamp (not Linux) a read is stamped with perf_counter_ns right after it returns, and the reader
does not wait. TLS answers are read in the user's greenlet, through the TLS socket, each read
stamped after it returns.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.ssl
from gevent.event import AsyncResult
from gevent.monkey import get_original

from loadgen.flags import ITL_RESOLUTION_S
from loadgen.swarm.http_answer import Answer

# What arrived together is read (and stamped) together, up to this much per read.
READ_BYTES = 65536
# A batch of ready streams yields to the other greenlets (timers, users) after this long.
TURN_NS = 2_000_000
# With kernel stamps, the reader waits after a batch of streams past their first token frame
# before it polls them again: a quarter of the usual gap between two frames of one stream (so
# one stream's frames seldom share a read, whose stamp is its last packet's), at least the ITL
# resolution (frames closer than that share a read), at most TICK_MAX_S or the resolution;
# the resolution itself until an answer has ended.
TICK_FRACTION = 0.25
TICK_MAX_S = 0.004
_GAP_WEIGHT = 0.1  # of each ended answer in the running mean of the gap
_NS_PER_S = 1_000_000_000
_epoll = get_original("select", "epoll")  # gevent's monkey-patching hides select.epoll
# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS), which Python's socket module does not name; its
# control message is a struct timespec of CLOCK_REALTIME.
_SO_TIMESTAMPNS = 35
_CMSG_BYTES = socket.CMSG_SPACE(16)
_timespec = struct.Struct("@qq").unpack_from
KERNEL_STAMPS = sys.platform == "linux"


class Stall(Exception):
    """No body bytes for longer than the stall timeout after the first ones."""


def ask_kernel_stamps(sock: Any) -> bool:
    """Ask for receive timestamps on a new connection; False where the kernel has none."""
    if not KERNEL_STAMPS or isinstance(sock, gevent.ssl.SSLSocket):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


@dataclass(eq=False)
class _Stream:
    answer: Answer
    raw: Any  # the non-blocking socket under gevent's: a recv never waits
    stall_s: float
    last_read_ns: int
    stamp_ns: int = 0  # the last read's stamp: stamps never go back
    first: bool = True  # in the lane of streams before their first token frame
    done: AsyncResult = field(default_factory=AsyncResult)
    fd: int = -1
    timer: Any = None  # the stall check's libev timer, from the first body bytes on


class BodyReader:
    """The process's reader (`BodyReader.shared()`); `exchange()` blocks the calling greenlet
    until the answer has ended, failed (the exception is raised) or stalled (`Stall`)."""

    _shared: BodyReader | None = None

    def __init__(self) -> None:
        self._first = _epoll()  # streams before their first token frame: read when readable
        self._ticked = _epoll()  # streams past it: read once per tick
        self._streams: dict[int, _Stream] = {}
        self._hub = gevent.get_hub()
        self._first_watcher = self._hub.loop.io(self._first.fileno(), 1)  # 1: readable
        self._ticked_watcher = self._hub.loop.io(self._ticked.fileno(), 1)
        self._gap_s: float | None = None  # running mean of the gap between a stream's frames
        self.tick_s = 0.0
        self._greenlets = (gevent.spawn(self._run_first), gevent.spawn(self._run_ticked))

    @classmethod
    def shared(cls) -> BodyReader:
        reader = cls._shared
        if (
            reader is None
            or any(g.dead for g in reader._greenlets)
            or reader._hub is not gevent.get_hub()
        ):
            reader = cls._shared = cls()
        return reader

    def exchange(
        self,
        sock: Any,
        request: bytes,
        answer: Answer,
        stall_timeout_s: float,
        resolution_s: float = ITL_RESOLUTION_S,
    ) -> None:
        """Send `request` on `sock` (a gevent socket) and read its whole answer into `answer`.
        Until an answer has ended (no gap known yet) the tick is `resolution_s`
        (--itl-resolution), the finest it may be."""
        if isinstance(sock, gevent.ssl.SSLSocket):
            sock.sendall(request)
            _read_in_greenlet(sock, answer, stall_timeout_s)
            return
        if not self.tick_s and KERNEL_STAMPS:
            self.tick_s = resolution_s
        now_ns = time.perf_counter_ns()
        stream = _Stream(answer, sock._sock, stall_timeout_s, now_ns)
        stream.fd = sock.fileno()
        # Registered before the request goes out: the reader reads the answer's every byte.
        self._streams[stream.fd] = stream
        self._first.register(stream.fd, select.EPOLLIN)
        try:
            sock.sendall(request)
            stream.done.get()
        finally:
            self._drop(stream)  # also when the request timeout or the run's end kills the wait

    def note_gap(
        self, first_ns: int | None, last_ns: int | None, frames: int, resolution_s: float
    ) -> None:
        """An answer ended with `frames` frames from `first_ns` to `last_ns`: its mean gap
        moves the tick, which is never below `resolution_s` (--itl-resolution)."""
        if not KERNEL_STAMPS or first_ns is None or last_ns is None or frames < 2:
            return
        gap_s = (last_ns - first_ns) / (frames - 1) / _NS_PER_S
        mean = self._gap_s = (
            gap_s if self._gap_s is None else self._gap_s + _GAP_WEIGHT * (gap_s - self._gap_s)
        )
        self.tick_s = max(resolution_s, min(TICK_MAX_S, TICK_FRACTION * mean))

    def _run_first(self) -> None:
        while True:
            self._hub.wait(self._first_watcher)
            self._read_ready(self._first)

    def _run_ticked(self) -> None:
        while True:
            self._hub.wait(self._ticked_watcher)
            # Poll again after each tick while there is something to read; block when idle.
            while self._read_ready(self._ticked) and self.tick_s:
                gevent.sleep(self.tick_s)

    def _read_ready(self, epoll: Any) -> int:
        """Read every stream of one lane that has bytes; returns how many were read."""
        streams, perf_ns = self._streams, time.perf_counter_ns
        real_minus_perf_ns = time.time_ns() - perf_ns()
        turn_end_ns = perf_ns() + TURN_NS
        reads = 0
        for fd, _events in epoll.poll(0):
            stream = streams.get(fd)  # None: it ended while this batch was read
            if stream is None:
                continue
            try:
                data, ancillary, _flags, _addr = stream.raw.recvmsg(READ_BYTES, _CMSG_BYTES)
            except BlockingIOError:
                continue
            except Exception as exc:  # the stream's failure, raised in its user's greenlet
                self._end(stream, exc)
                continue
            now_ns = perf_ns()
            reads += 1
            stamp_ns = now_ns
            if ancillary:  # the kernel's receive time of the read's last packet
                seconds, nanoseconds = _timespec(ancillary[0][2])
                kernel_ns = seconds * _NS_PER_S + nanoseconds - real_minus_perf_ns
                stamp_ns = kernel_ns if kernel_ns < now_ns else now_ns
            if stamp_ns < stream.stamp_ns:  # a wall-clock step back: never before the last one
                stamp_ns = stream.stamp_ns
            stream.stamp_ns = stamp_ns
            stream.last_read_ns = now_ns
            answer = stream.answer
            try:
                if data:
                    answer.feed(data, stamp_ns)
                else:
                    answer.eof()
            except Exception as exc:
                self._end(stream, exc)
                continue
            if answer.complete:
                self._end(stream, None)
            elif stream.first or stream.timer is None:  # the answer's first reads
                self._after_first_reads(stream, answer)
            if now_ns > turn_end_ns:  # let timers and users run between long stretches
                gevent.sleep(0)
                real_minus_perf_ns = time.time_ns() - perf_ns()
                turn_end_ns = perf_ns() + TURN_NS
        return reads

    def _after_first_reads(self, stream: _Stream, answer: Answer) -> None:
        """The stall check from the body's first bytes on; the ticked lane from the first token
        frame on."""
        if answer.got_body and stream.timer is None:
            self._arm(stream, stream.stall_s)
        if stream.first and answer.parser.accumulator.token_frames:
            stream.first = False  # its TTFT is read: from now on, once per tick
            self._first.unregister(stream.fd)
            self._ticked.register(stream.fd, select.EPOLLIN)

    def _end(self, stream: _Stream, exc: BaseException | None) -> None:
        self._drop(stream)
        if stream.done.ready():
            return
        if exc is not None:
            stream.done.set_exception(exc)
        else:
            stream.done.set(None)

    def _drop(self, stream: _Stream) -> None:
        if self._streams.get(stream.fd) is stream:
            del self._streams[stream.fd]
            with contextlib.suppress(OSError):  # the socket may be closed already
                (self._first if stream.first else self._ticked).unregister(stream.fd)
        if stream.timer is not None:
            stream.timer.close()
            stream.timer = None

    def _arm(self, stream: _Stream, delay_s: float) -> None:
        """A stall check after `delay_s`: one timer per stall timeout, not one per read."""
        timer = stream.timer = self._hub.loop.timer(max(delay_s, 0.0))
        timer.start(self._check_stall, stream)

    def _check_stall(self, stream: _Stream) -> None:
        stream.timer.close()
        stream.timer = None
        if stream.done.ready():
            return
        idle_s = (time.perf_counter_ns() - stream.last_read_ns) / _NS_PER_S
        if idle_s >= stream.stall_s:
            self._end(stream, Stall())
        else:
            self._arm(stream, stream.stall_s - idle_s)


def _read_in_greenlet(sock: Any, answer: Answer, stall_timeout_s: float) -> None:
    """A TLS answer, read through its TLS socket in the calling greenlet (a readable raw socket
    is no whole TLS record, and decrypted bytes can wait in the TLS layer with nothing on the
    socket), each read stamped right after it returns."""
    while not answer.complete:
        with gevent.Timeout(stall_timeout_s if answer.got_body else None, Stall):
            data = sock.recv(READ_BYTES)
        if data:
            answer.feed(data, time.perf_counter_ns())
        else:
            answer.eof()
