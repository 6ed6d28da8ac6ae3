"""Live numbers during a run: a sliding window over finished requests and the progress line.

Pure (the plugin calls it from a greenlet): the window is exact over its last `span_s` seconds
and only feeds the live view; the end-of-run summary is computed from every raw record.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from loadgen import timing
from loadgen.records import RequestRecord

_NS_PER_S = 1_000_000_000


def nearest_rank(sorted_values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of already sorted values by nearest rank; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """What the progress line and the web UI show about the last `span_s` seconds."""

    span_s: float
    requests: int
    errors: int
    req_per_s: float
    output_tok_per_s: float
    ttft_ms: dict[str, float | None]  # "p50", "p95", "p99"
    itl_ms: dict[str, float | None]
    tpot_ms: dict[str, float | None]
    total_requests: int
    total_errors: int


def _percentiles(values: list[float]) -> dict[str, float | None]:
    values.sort()
    return {f"p{q}": nearest_rank(values, q / 100) for q in (50, 95, 99)}


class LiveWindow:
    """Finished requests of the last `span_s` seconds, by wall-clock end time."""

    def __init__(self, span_s: float = 10.0) -> None:
        self.span_s = span_s
        self._items: deque[tuple[int, RequestRecord]] = deque()
        self.total_requests = 0
        self.total_errors = 0
        self._first_send_unix_ns: int | None = None

    def add(self, record: RequestRecord) -> None:
        end_unix_ns = record.wall_send_unix_ns + (record.t_end_ns - record.t_send_ns)
        if self._first_send_unix_ns is None:
            self._first_send_unix_ns = record.wall_send_unix_ns
        self._items.append((end_unix_ns, record))
        self.total_requests += 1
        self.total_errors += 0 if record.ok else 1

    def snapshot(self, now_unix_ns: int) -> LiveSnapshot:
        horizon = now_unix_ns - int(self.span_s * _NS_PER_S)
        while self._items and self._items[0][0] < horizon:
            self._items.popleft()
        records = [r for _, r in self._items]
        # early in a run the window is shorter than span_s: rates use what has elapsed
        first = self._first_send_unix_ns if self._first_send_unix_ns is not None else now_unix_ns
        span_s = min(self.span_s, max((now_unix_ns - first) / _NS_PER_S, 1.0))
        ok = [r for r in records if r.ok]
        ttft = [v for v in map(timing.ttft_ms, ok) if v is not None]
        tpot = [v for v in map(timing.tpot_ms, ok) if v is not None]
        itl = [gap for r in ok for gap in timing.itl_ms(r)]
        return LiveSnapshot(
            span_s=span_s,
            requests=len(records),
            errors=len(records) - len(ok),
            req_per_s=len(records) / span_s,
            output_tok_per_s=sum(r.n_out for r in ok) / span_s,
            ttft_ms=_percentiles(ttft),
            itl_ms=_percentiles(itl),
            tpot_ms=_percentiles(tpot),
            total_requests=self.total_requests,
            total_errors=self.total_errors,
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_progress(
    users: int,
    snap: LiveSnapshot,
    elapsed_s: float,
    time_left_s: float | None,
    at_most: bool = False,
) -> str:
    """'users 10 | 4.2 req/s | 512 out tok/s | TTFT p95 123 ms | errors 0/42 | 25 s left';
    `at_most`: the time left is a bound (auto levels end once measured), 'at most 25 s left'."""
    bound = "at most " if at_most else ""
    left = "" if time_left_s is None else f" | {bound}{max(time_left_s, 0.0):.0f} s left"
    return (
        f"[{elapsed_s:5.0f} s] users {users} | {snap.req_per_s:.1f} req/s"
        f" | {snap.output_tok_per_s:.0f} out tok/s | TTFT p95 {_ms(snap.ttft_ms['p95'])}"
        f" | errors {snap.total_errors}/{snap.total_requests}{left}"
    )


def progress_mode(setting: str, is_tty: bool) -> str:
    """'live' (one line rewritten with \\r), 'lines' (one per interval, CI logs) or 'off'."""
    if setting in ("live", "lines", "off"):
        return setting
    return "live" if is_tty else "lines"
