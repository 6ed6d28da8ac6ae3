"""The per-level table `loadgen swarm` prints: one row per level, right-aligned; the error
column's header names the error gate (--max-error-rate) when there is one; a `steady` column and
one line under the table for each level that never settled (loadgen/steady.py), and one for
each level whose token-bearing frames did not match the server's token counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loadgen.level_summary import LevelSummary
from loadgen.summary import RunSummary

_ERROR_PCT = "error %"
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # header, LevelSummary field, format
    ("users", "users", "d"),
    ("requests", "requests", "d"),
    ("errors", "errors", "d"),
    (_ERROR_PCT, "error_rate", ".1f"),
    ("req/s", "req_s", ".2f"),
    ("output tok/s", "output_tok_s", ".1f"),
    ("TTFT p50 ms", "ttft_p50_ms", ".0f"),
    ("TTFT p95 ms", "ttft_p95_ms", ".0f"),
    ("TTFT p99 ms", "ttft_p99_ms", ".0f"),
    ("ITL p50 ms", "itl_p50_ms", ".1f"),
    ("ITL p99 ms", "itl_p99_ms", ".1f"),
    ("TPOT p50 ms", "tpot_p50_ms", ".1f"),
    ("E2E p95 ms", "e2e_p95_ms", ".0f"),
)


# Shown only when a sidecar ran: bytes printed as GB (1e9), like the reference table.
_RESOURCE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("VRAM idle GB", "vram_idle_bytes", ".2f"),
    ("VRAM peak GB", "vram_peak_bytes", ".2f"),
    ("RSS peak GB", "engine_rss_peak_bytes", ".2f"),
)
_BYTES_PER_GB = 1e9
# Shown only when the server told where the TTFT went (loadgen/breakdown.py): means, exact
# for vLLM's /metrics and Ollama's durations alike.
_BREAKDOWN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("server TTFT ms", "server_ttft_mean_ms", ".1f"),
    ("queue ms", "queue_mean_ms", ".1f"),
    ("prefill ms", "prefill_mean_ms", ".1f"),
    ("client ms", "client_overhead_ms", ".1f"),
)
BREAKDOWN_LEGEND = (
    "TTFT breakdown, means: server TTFT ≈ queue + prefill (+ Ollama's model load); client ="
    " TTFT mean − server TTFT mean (network, HTTP, API server); see docs/engine-insight.md"
)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _columns(levels: Iterable[LevelSummary]) -> tuple[tuple[str, str, str], ...]:
    measured = {
        name for lv in levels for _, name, _ in _RESOURCE_COLUMNS if getattr(lv, name) is not None
    }
    breakdown = _BREAKDOWN_COLUMNS if _has_breakdown(levels) else ()
    return _COLUMNS + breakdown + tuple(c for c in _RESOURCE_COLUMNS if c[1] in measured)


def _has_breakdown(levels: Iterable[LevelSummary]) -> bool:
    return any(lv.server_ttft_mean_ms is not None for lv in levels)


def _value(level: LevelSummary, name: str) -> Any:
    value = getattr(level, name)
    if name == "error_rate":
        return 100 * value if level.requests else None
    return value / _BYTES_PER_GB if name.endswith("_bytes") and value is not None else value


def _header(header: str, max_error_rate: float | None) -> str:
    if header != _ERROR_PCT or max_error_rate is None or max_error_rate >= 1:
        return header
    return f"{header} <={100 * max_error_rate:g}"


def format_table(summary: RunSummary, max_error_rate: float | None = None) -> str:
    """A plain-text table, one row per level, right-aligned; '-' where a value is undefined.

    The TTFT breakdown's columns appear when the server told it, VRAM and engine RSS columns
    when a sidecar measured them; with `max_error_rate`
    (below 1) the error column's header shows the gate, e.g. 'error % <=5'."""
    columns = _columns(summary.levels)
    rows = [[_header(header, max_error_rate) for header, _, _ in columns]]
    for level in summary.levels:
        rows.append([_cell(_value(level, name), fmt) for _, name, fmt in columns])
    judged = any(level.steady is not None for level in summary.levels)
    if judged:
        rows[0].append("steady")
        rows[1:] = [
            [*row, _steady_cell(lv)] for row, lv in zip(rows[1:], summary.levels, strict=True)
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    legend = [BREAKDOWN_LEGEND] if _has_breakdown(summary.levels) else []
    under = unsteady_lines(summary.levels) + token_count_lines(summary.levels)
    under += itl_resolution_lines(summary.levels)
    return "\n".join(lines + legend + under)


def _steady_cell(level: LevelSummary) -> str:
    return "-" if level.steady is None else ("yes" if level.steady else "NO")


def unsteady_lines(levels: Iterable[LevelSummary]) -> list[str]:
    """One line under the table per level that never settled: its numbers mix a transient in."""
    return [
        f"level {lv.stage_index} ({lv.users} users) not steady: {lv.steady_reason}"
        for lv in levels
        if lv.steady is False
    ]


def token_count_lines(levels: Iterable[LevelSummary]) -> list[str]:
    """One line under the table per level where the server's N_out and the count of
    token-bearing frames differed (expected from engines that send several tokens a frame)."""
    return [
        f"level {lv.stage_index} ({lv.users} users): {lv.token_mismatch_requests} of"
        f" {lv.token_checked_requests} requests streamed a number of token-bearing frames other"
        " than the server's output token count (see docs/engine-insight.md)"
        for lv in levels
        if lv.token_mismatch_requests
    ]


SHARED_GAPS_NOTED = 0.05  # a level says so when more of its inter-token gaps read 0 ms


def itl_resolution_lines(levels: Iterable[LevelSummary]) -> list[str]:
    """One line under the table per level where many inter-token gaps read 0 ms: frames that
    came closer together than the reader's tick (docs/swarm.md) were read, and stamped,
    together, so its ITL percentiles are not resolved below the tick (TPOT is)."""
    return [
        f"level {lv.stage_index} ({lv.users} users): {lv.itl_shared_gaps / lv.itl_gaps:.0%} of"
        " inter-token gaps read 0 ms (frames closer together than the reader's tick share a"
        " read): ITL is not resolved below the tick, TPOT is (--itl-resolution; docs/swarm.md)"
        for lv in levels
        if lv.itl_gaps and lv.itl_shared_gaps / lv.itl_gaps > SHARED_GAPS_NOTED
    ]
