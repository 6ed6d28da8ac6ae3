"""TTFT, ITL and TPOT as Locust statistics of their own, beside Locust's request statistics.

A separate `locust.stats.RequestStats`, never `environment.stats`: Locust's RPS and its
"Aggregated" row count each chat request once. Percentiles are Locust's (approximated) ones.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from locust import stats as locust_stats
from locust.stats import (
    PERCENTILES_TO_REPORT,
    RequestStats,
    StatsEntry,
    get_percentile_stats_summary,
    get_readable_percentiles,
)

from loadgen import timing
from loadgen.records import RequestRecord

METRIC_TYPE = "LLM"
METRICS = ("TTFT", "ITL", "TPOT")  # TTFT and TPOT: one value per request; ITL: per token gap
TABLE_PERCENTILES = (0.5, 0.9, 0.95, 0.99)
SUMMARY_TITLE = "LLM time percentiles in ms (approximated; ITL counts token gaps)"


class LlmStats:
    """One Locust StatsEntry per metric, fed by this process's requests or by workers' reports."""

    def __init__(self) -> None:
        self.stats = RequestStats(use_response_times_cache=False)

    def entry(self, metric: str) -> StatsEntry:
        return self.stats.get(metric, METRIC_TYPE)

    def entries(self) -> list[StatsEntry]:
        return [self.entry(metric) for metric in METRICS]

    def add(self, record: RequestRecord) -> None:
        """Log a finished request's TTFT, TPOT and every ITL gap (a failed one has none)."""
        if not record.ok:
            return
        ttft_ms = timing.ttft_ms(record)
        if ttft_ms is not None:
            self.entry("TTFT").log(ttft_ms, 0)
        log_many(self.entry("ITL"), _itl_ms(record.frame_times_ns))
        tpot_ms = timing.tpot_ms(record)
        if tpot_ms is not None:
            self.entry("TPOT").log(tpot_ms, 0)

    def report(self) -> list[dict[str, Any]]:
        """What a worker adds to its stats report: its values since the last report (cleared)."""
        return [dict(data) for data in self.stats.serialize_stats()]

    def merge(self, report: list[dict[str, Any]]) -> None:
        """The master adds one worker's report."""
        for data in report:
            part = StatsEntry.unserialize(data, self.stats)
            self.stats.get(part.name, part.method).extend(part)

    def clear(self) -> None:
        """A new test: forget everything (Locust clears its own stats then too)."""
        self.stats.clear_all()

    def reset(self) -> None:
        """Locust's stats reset (web UI button, --reset-stats): zero every entry."""
        self.stats.reset_all()


_STOCK_BUCKET = locust_stats.bucket_response_time


def log_many(entry: StatsEntry, values_ms: Sequence[float] | npt.NDArray[np.float64]) -> None:
    """`entry.log(value, 0)` for every value, at once: the same counts, sum, min, max, per-second
    count and rounded-time histogram (Locust's bucket_response_time, so a replaced bucketing is
    used too), at a tenth of the cost of one call per value (ITL logs one value per token).
    For entries without Locust's response-times cache, as LlmStats' are."""
    values = np.asarray(values_ms, dtype=np.float64)
    if not values.size:
        return
    now = time.time()
    n = int(values.size)
    entry.num_requests += n
    entry.num_reqs_per_sec[int(now)] += n
    entry.last_request_timestamp = now
    entry.total_response_time += float(values.sum())
    low, high = float(values.min()), float(values.max())
    entry.min_response_time = (
        low if entry.min_response_time is None else min(entry.min_response_time, low)
    )
    entry.max_response_time = max(entry.max_response_time, high)
    bucket = locust_stats.bucket_response_time
    if bucket is _STOCK_BUCKET and low >= 0 and high < 100:
        # below 100 ms the stock bucket is round(): half to even, as numpy's rint
        counts = np.bincount(np.rint(values).astype(np.intp))
        keys = np.flatnonzero(counts)
        pairs: Iterable[tuple[int, int]] = zip(keys.tolist(), counts[keys].tolist(), strict=True)
    else:
        pairs = Counter(map(bucket, values.tolist())).items()
    histogram = entry.response_times
    for key, count in pairs:
        histogram[key] += count


def _itl_ms(frame_times_ns: Sequence[int]) -> npt.NDArray[np.float64]:
    """timing.itl_ms's gaps, the same floats, as an array: (b - a) / 1e6 is exact division of
    exact values, as Python's int / int is."""
    gaps_ns = np.diff(np.asarray(frame_times_ns, dtype=np.int64)).astype(np.float64)
    return gaps_ns / timing.NS_PER_MS


def _pct_key(percentile: float) -> str:
    return f"p{percentile * 100:g}_ms"


def entry_row(entry: StatsEntry) -> dict[str, Any]:
    """One metric for the web UI and /loadgen/stats; None where it has no value yet."""
    n = entry.num_requests
    row: dict[str, Any] = {
        "name": entry.name,
        "count": n,
        "avg_ms": round(entry.avg_response_time, 2) if n else None,
        "min_ms": round(entry.min_response_time, 2) if n else None,
        "max_ms": round(entry.max_response_time, 2) if n else None,
    }
    for percentile in TABLE_PERCENTILES:
        row[_pct_key(percentile)] = entry.get_response_time_percentile(percentile) if n else None
    return row


def table_rows(llm: LlmStats) -> list[dict[str, Any]]:
    return [entry_row(entry) for entry in llm.entries()]


def table_structure() -> list[dict[str, str]]:
    """The web UI table's columns, keyed like `entry_row`."""
    columns = [
        {"key": "name", "title": "Name (whole run)"},
        {"key": "count", "title": "# values"},
        {"key": "avg_ms", "title": "Average (ms)"},
        {"key": "min_ms", "title": "Min (ms)"},
        {"key": "max_ms", "title": "Max (ms)"},
    ]
    for percentile in TABLE_PERCENTILES:
        columns.append({"key": _pct_key(percentile), "title": f"{percentile * 100:g}%ile (ms)"})
    return columns


def csv_header() -> list[str]:
    """Locust's stats CSV columns that mean something for a time per request or per gap."""
    return [
        "Type",
        "Name",
        "Count",
        "Median (ms)",
        "Average (ms)",
        "Min (ms)",
        "Max (ms)",
        *get_readable_percentiles(PERCENTILES_TO_REPORT),
    ]


def csv_rows(llm: LlmStats) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for e in llm.entries():
        if not e.num_requests:
            rows.append([e.method, e.name, 0, *["N/A"] * (len(csv_header()) - 3)])
            continue
        head = [e.method, e.name, e.num_requests, e.median_response_time]
        times = [
            round(v, 3) for v in (e.avg_response_time, e.min_response_time, e.max_response_time)
        ]
        rows.append([*head, *times, *map(e.get_response_time_percentile, PERCENTILES_TO_REPORT)])
    return rows


def summary_lines(llm: LlmStats) -> list[str]:
    """The end-of-run table, in the format of Locust's "Response time percentiles" one."""
    lines: list[str] = list(get_percentile_stats_summary(llm.stats))
    lines[0] = SUMMARY_TITLE
    lines[1] = lines[1].replace("# reqs", "# vals")
    return lines
