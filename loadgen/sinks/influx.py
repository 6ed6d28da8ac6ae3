"""InfluxSink: `write()` only enqueues; one flusher sends batches, retries, and spills to disk.

The flusher is a `threading.Thread`: a real thread in the sidecar, a greenlet once gevent has
monkey-patched the process (the swarm). Nothing is dropped unless the spool file fails too.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from loadgen.line_protocol import LinePoint, encode
from loadgen.results import INFLUX_REJECTED_FILE
from loadgen.sinks.influx_http import InfluxHttp, WriteOutcome
from loadgen.sinks.influx_settings import InfluxSettings
from loadgen.sinks.spool import Spool
from loadgen.summary import SinkReport

# A point, or a function that builds it: the flusher builds it, off the caller's hot path.
PointLike = LinePoint | Callable[[], LinePoint]

log = logging.getLogger("loadgen.influx")
ENCODE_CHUNK_POINTS = 50  # yield to other greenlets between chunks while encoding a batch
BACKOFF_BASE_S = 0.25


class _Batch:
    """Points taken from the buffer; resolved exactly once (delivered, spilled or rejected)."""

    def __init__(self, points: list[PointLike]) -> None:
        self.points = points
        self.body = b""  # line protocol, for the spool
        self.gzipped = b""  # what is sent
        self.unbuilt = 0  # lazy points whose builder failed (counted as dropped)
        self.done = False


class InfluxSink:
    """A non-blocking writer to one InfluxDB destination.

    >>> sink = InfluxSink(settings, Path("results/r1/influx-spool.lp")).start()
    >>> sink.write([schema.request_point(record, tags)])  # enqueue only
    >>> report = sink.close(timeout_s=10)  # flush at most 10 s, then spill
    """

    def __init__(
        self,
        settings: InfluxSettings,
        spool_path: Path,
        report_path: Path | None = None,
        client: InfluxHttp | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._client = client or InfluxHttp(settings)
        self._spool = Spool(spool_path)
        self._rejected = Spool(spool_path.with_name(INFLUX_REJECTED_FILE))
        self._report_path = report_path
        self._clock = clock
        self._buf: deque[PointLike] = deque()
        self._oldest_s = 0.0
        self._lock = threading.Lock()  # guards a batch's fate (flusher vs close), not the buffer
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._closed = False
        self._deadline_s = float("inf")
        self._down_since_s: float | None = None
        self._inflight: _Batch | None = None
        self._thread: threading.Thread | None = None
        self._counts = dict.fromkeys(
            ("written", "spilled", "rejected", "dropped", "failed_batches", "retries"), 0
        )
        self._last_error = ""

    def start(self) -> InfluxSink:
        """Start the flusher (a thread, or a greenlet under gevent); returns self."""
        self._thread = threading.Thread(target=self._run, name="influx-flusher", daemon=True)
        self._thread.start()
        return self

    def write(self, points: Iterable[PointLike]) -> None:
        """Enqueue points; never does network I/O and takes no lock. Beyond `buffer_points`,
        or after close, points go straight to the spool file."""
        pts = points if isinstance(points, list) else list(points)
        if self._closed:
            self._spill(_Batch(pts), "sink closed")
            return
        room = self.settings.buffer_points - len(self._buf)
        if not self._buf:
            self._oldest_s = self._clock()
        if room >= len(pts):
            self._buf.extend(pts)  # deque.extend/popleft are atomic: no lock on the hot path
        else:
            self._buf.extend(pts[: max(room, 0)])
            self._spill(_Batch(pts[max(room, 0) :]), "buffer full")
        if self._closed:  # close() drained the buffer while we were adding (threads only)
            self._spill(_Batch(self._drain()), "sink closed")
        if len(self._buf) >= self.settings.batch_points:
            self._wake.set()

    def _drain(self, limit: int | None = None) -> list[PointLike]:
        """Pop up to `limit` points; each point is popped by exactly one caller."""
        out: list[PointLike] = []
        try:
            while limit is None or len(out) < limit:
                out.append(self._buf.popleft())
        except IndexError:
            pass
        return out

    def pending(self) -> int:
        """Points waiting in the buffer (not counting a batch being sent)."""
        return len(self._buf)

    def report(self) -> SinkReport:
        """Counts so far; final once `close()` has returned."""
        return SinkReport(
            **self._counts, spool_path=str(self._spool.path), last_error=self._last_error
        )

    def close(self, timeout_s: float = 10.0) -> SinkReport:
        """Flush for at most `timeout_s`, spill whatever is left, write the report file."""
        self._deadline_s = self._clock() + timeout_s
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._closed = True
        leftover = self._drain()
        inflight = self._inflight
        if inflight is not None:  # the flusher is stuck in a request: keep its batch too
            self._spill(inflight, "close timed out")
        if leftover:
            self._spill(_Batch(leftover), "close timed out")
        self._client.close()
        self._spool.close()
        self._rejected.close()
        report = self.report()
        if self._report_path is not None:
            self._write_report(self._report_path, report)
        return report

    @staticmethod
    def _write_report(path: Path, report: SinkReport) -> None:
        """The report file, or (a full disk) its counts in one log line instead of a crash."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            log.error(
                "cannot write %s: %s; InfluxDB: %d points written, %d spilled, %d rejected,"
                " %d dropped",
                path, exc.strerror or exc, report.written, report.spilled, report.rejected,
                report.dropped,
            )  # fmt: skip

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception as exc:  # a bug must not stop delivery: keep the batch, go on
                self._note_error(f"flusher error: {type(exc).__name__}: {exc}")
                self._spill(batch, "flusher error")

    def _next_batch(self) -> _Batch | None:
        """Wait for a full batch, an old enough point, or close; None when closed and empty."""
        while True:
            n = len(self._buf)
            age_s = self._clock() - self._oldest_s if n else 0.0
            closing = self._closing.is_set()
            if closing and self._clock() >= self._deadline_s:
                return None  # close() spills what is left in one append
            if n and (closing or n >= self.settings.batch_points or age_s >= self._interval_s()):
                batch = _Batch(self._drain(self.settings.batch_points))
                self._oldest_s = self._clock()
                if batch.points:
                    self._inflight = batch
                    return batch
            elif closing:
                return None
            self._wake.wait(max(0.01, self._interval_s() - age_s))
            self._wake.clear()

    def _interval_s(self) -> float:
        return self.settings.flush_interval_s

    def _deliver(self, batch: _Batch) -> None:
        self._encode(batch)
        attempt = 0
        while not batch.done:
            outcome = self._client.write(batch.gzipped, gzipped=True)
            if outcome.kind == "ok":
                self._resolve(batch, "written")
                self._recovered()
            elif outcome.kind == "retry":
                attempt += 1
                self._retry_or_spill(batch, outcome, attempt)
            else:
                self._note_error(outcome.reason)
                self._counts["failed_batches"] += 1
                if outcome.kind == "reject":
                    self._spill(batch, outcome.reason, self._rejected, "rejected")
                else:
                    self._spill(batch, outcome.reason)

    def _retry_or_spill(self, batch: _Batch, outcome: WriteOutcome, attempt: int) -> None:
        now = self._clock()
        if self._down_since_s is None:
            self._down_since_s = now
            self._note_error(outcome.reason)
        down_too_long = now - self._down_since_s >= self.settings.retry_window_s
        if down_too_long or now >= self._deadline_s:
            self._counts["failed_batches"] += 1
            self._spill(batch, outcome.reason)
            return
        self._counts["retries"] += 1
        delay_s = min(self.settings.backoff_max_s, BACKOFF_BASE_S * 2 ** min(attempt - 1, 16))
        delay_s *= random.uniform(0.5, 1.0)  # jitter: workers do not retry in lockstep
        if outcome.retry_after_s is not None:
            delay_s = min(max(delay_s, outcome.retry_after_s), 2 * self.settings.backoff_max_s)
        # A plain sleep (cooperative under gevent): close() must not turn this into a busy loop.
        time.sleep(min(delay_s, max(0.0, self._deadline_s - now)))

    def _recovered(self) -> None:
        if self._down_since_s is not None:
            log.warning("InfluxDB %s accepts writes again", self.settings.display_url)
            self._down_since_s = None

    def _note_error(self, reason: str) -> None:
        if reason != self._last_error:
            log.warning("InfluxDB %s: %s", self.settings.display_url, reason)
        self._last_error = reason

    def _encode(self, batch: _Batch) -> None:
        """Line protocol and its gzip, a chunk at a time: the hub is never held for long."""
        raw: list[bytes] = []
        gz: list[bytes] = []
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip container
        for start in range(0, len(batch.points), ENCODE_CHUNK_POINTS):
            raw.append(self._lines(batch, batch.points[start : start + ENCODE_CHUNK_POINTS]))
            gz.append(compressor.compress(raw[-1]))
            time.sleep(0)  # a cooperative yield under gevent, a GIL hand-off in a thread
        gz.append(compressor.flush())
        batch.body, batch.gzipped = b"".join(raw), b"".join(gz)

    def _lines(self, batch: _Batch, points: list[PointLike]) -> bytes:
        """Line protocol of points, building the lazy ones; a builder that fails is a bug,
        counted as dropped and logged, never a dead flusher."""
        built: list[LinePoint] = []
        for p in points:
            try:
                built.append(p if isinstance(p, LinePoint) else p())
            except Exception as exc:  # the flusher must survive any record
                self._counts["dropped"] += 1
                batch.unbuilt += 1
                self._note_error(f"cannot build a point: {type(exc).__name__}: {exc}")
        return encode(built)

    def _claim(self, batch: _Batch) -> bool:
        """Take charge of a batch's fate; False if it was already settled (flusher vs close)."""
        with self._lock:
            if batch.done:
                return False
            batch.done = True
            if self._inflight is batch:
                self._inflight = None
            return True

    def _count(self, outcome: str, batch: _Batch) -> None:
        with self._lock:
            self._counts[outcome] += len(batch.points) - batch.unbuilt

    def _resolve(self, batch: _Batch, outcome: str) -> bool:
        """Count a batch once; False if it was already settled elsewhere."""
        if not self._claim(batch):
            return False
        self._count(outcome, batch)
        return True

    def _spill(
        self, batch: _Batch, why: str, spool: Spool | None = None, outcome: str = "spilled"
    ) -> None:
        if not self._claim(batch):  # close() already kept it: never write it twice
            return
        spool = spool or self._spool
        try:
            spool.append(batch.body or self._lines(batch, batch.points))
        except OSError as exc:
            self._note_error(f"cannot write {spool.path}: {exc.strerror}")
            self._count("dropped", batch)
            return
        self._count(outcome, batch)
        log.debug("spilled %d points to %s (%s)", len(batch.points), spool.path, why)
