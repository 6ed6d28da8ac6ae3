"""The pure side of bench/peers.py: a client's requests joined to the simulator's truth file,
the load window, CPU over that window, and the figures each client gets in the table.

Every time here is CLOCK_MONOTONIC in ns (time.perf_counter_ns on Linux), which the simulator,
the clients and the CPU sampler share on one host; wall-clock times are turned into it once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from loadgen.stats import nearest_rank

Row = dict[str, Any]  # one line of the simulator's truth file


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as a client recorded it: the id it sent (None: it sends none), when it sent
    the request and when it stamped the first token (None: no token)."""

    request_id: str | None
    send_ns: int
    first_ns: int | None


@dataclass(frozen=True, slots=True)
class Figures:
    """One client's row of the table."""

    requests: int  # truth rows in the load window
    joined: int  # of those, joined to one of the client's own records
    tokens: int  # output tokens the simulator wrote in the window
    window_s: float
    cpu_s: float  # the client's process tree, over the window
    ttft_err_ms: tuple[float, float] | None  # p50, p99 of client TTFT - truth TTFT
    read_lag_ms: tuple[float, float] | None  # p50, p99 of client first stamp - truth first write

    @property
    def cpu_ms_per_1k_tokens(self) -> float:
        return 1e6 * self.cpu_s / self.tokens if self.tokens else float("nan")


def cpu_at(samples: Sequence[tuple[int, float]], t_ns: int) -> float:
    """CPU seconds used by `t_ns`, linear between the (time ns, cumulative CPU s) samples around
    it; clamped to the first and last sample outside them."""
    if not samples:
        raise ValueError("no CPU samples")
    times = [t for t, _ in samples]
    i = bisect.bisect_left(times, t_ns)
    if i == 0:
        return samples[0][1]
    if i == len(samples):
        return samples[-1][1]
    (t0, c0), (t1, c1) = samples[i - 1], samples[i]
    return c0 + (c1 - c0) * (t_ns - t0) / (t1 - t0)


def tree_total(last_cpu_by_pid: dict[int, float], readings: Iterable[tuple[int, float]]) -> float:
    """Update each pid's cumulative CPU with this round's readings (a pid that has exited keeps
    its last reading) and return the tree's total."""
    for pid, cpu_s in readings:
        last_cpu_by_pid[pid] = max(cpu_s, last_cpu_by_pid.get(pid, 0.0))
    return sum(last_cpu_by_pid.values())


def load_window(rows: Iterable[Row]) -> tuple[int, int]:
    """(first arrival, last end) of the rows, in the simulator's monotonic ns."""
    rows = list(rows)
    if not rows:
        raise ValueError("no truth rows in the load")
    start = min(r["arrival_mono_ns"] for r in rows)
    return start, max(r["end_mono_ns"] or r["arrival_mono_ns"] for r in rows)


def join_by_id(seen: Iterable[Seen], rows: Iterable[Row]) -> list[tuple[Seen, Row]]:
    """Pairs of a record and the truth row with its request id (ids seen twice are dropped)."""
    by_id: dict[str, Row] = {}
    twice: set[str] = set()
    for row in rows:
        rid = row["request_id"]
        if rid in by_id:
            twice.add(rid)
        by_id[rid] = row
    return [
        (s, by_id[s.request_id])
        for s in seen
        if s.request_id is not None and s.request_id in by_id and s.request_id not in twice
    ]


def join_by_order(seen: Iterable[Seen], rows: Iterable[Row]) -> list[tuple[Seen, Row]]:
    """For a client that sends no id: its records in the order it sent them, paired with the
    rows in the order they arrived. Only when both counts agree (else nothing is joined): the
    requests of a closed loop all look alike, so a pair that swapped two near-simultaneous sends
    moves a TTFT error by their send gap, not by a request's length."""
    ordered_seen = sorted(seen, key=lambda s: s.send_ns)
    ordered_rows = sorted(rows, key=lambda r: r["arrival_mono_ns"])
    if len(ordered_seen) != len(ordered_rows):
        return []
    return list(zip(ordered_seen, ordered_rows, strict=True))


def errors_ms(pairs: Iterable[tuple[Seen, Row]]) -> tuple[list[float], list[float]]:
    """(TTFT errors, read lags) in ms of the pairs where both sides saw a first token:
    TTFT error = (client first - client send) - (truth first - truth arrival);
    read lag = client first - truth first (what the client added after the frame was written)."""
    ttft_err, read_lag = [], []
    for s, row in pairs:
        first = row.get("first_token_mono_ns")
        if s.first_ns is None or first is None:
            continue
        ttft_err.append(((s.first_ns - s.send_ns) - (first - row["arrival_mono_ns"])) / 1e6)
        read_lag.append((s.first_ns - first) / 1e6)
    return ttft_err, read_lag


def p50_p99(values: Sequence[float]) -> tuple[float, float] | None:
    """Nearest-rank p50 and p99, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    p50, p99 = nearest_rank(ordered, 50), nearest_rank(ordered, 99)
    assert p50 is not None and p99 is not None
    return p50, p99


def figures(
    rows: Sequence[Row],
    pairs: Sequence[tuple[Seen, Row]],
    samples: Sequence[tuple[int, float]],
    stamps_comparable: bool = True,
) -> Figures:
    """One client's figures: the window spans its joined rows (all rows if none joined); CPU
    and tokens are counted over it. `stamps_comparable` False: the client's stamps are not on
    the simulator's clock, so read lag is left out (its TTFT error is a difference of
    durations and stays)."""
    load = [row for _, row in pairs] or list(rows)
    start, end = load_window(load)
    inside = [r for r in rows if start <= r["arrival_mono_ns"] <= end]
    ttft_err, read_lag = errors_ms(pairs)
    return Figures(
        requests=len(inside),
        joined=len(pairs),
        tokens=sum(r["tokens_out"] for r in inside),
        window_s=(end - start) / 1e9,
        cpu_s=cpu_at(samples, end) - cpu_at(samples, start),
        ttft_err_ms=p50_p99(ttft_err),
        read_lag_ms=p50_p99(read_lag) if stamps_comparable else None,
    )
