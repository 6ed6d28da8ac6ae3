"""The report's "where the TTFT goes" chart: one stacked bar per level and run, its mean TTFT
split into the server's queue, model load (Ollama), prefill, the rest of the server's TTFT, and
the client's share (loadgen/breakdown.py). Means only: they add up, percentiles do not."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes

from loadgen.level_summary import LevelSummary
from loadgen.report.runs import RunData

TITLE = "Where the TTFT goes (means)"
# segment label, colour; drawn bottom up
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("queue", "#d62728"),
    ("model load", "#9467bd"),
    ("prefill", "#1f77b4"),
    ("other server", "#7f7f7f"),
    ("client (network, HTTP, API server)", "#ff7f0e"),
)


def has_breakdown(runs: Sequence[RunData]) -> bool:
    """True when a level of any run has the server's TTFT."""
    return any(level.server_ttft_mean_ms is not None for run in runs for level in run.levels)


def segments_ms(level: LevelSummary) -> tuple[float, ...] | None:
    """The level's SEGMENTS in ms (a negative share, from two windows' noise, drawn as 0);
    None without the server's TTFT."""
    server = level.server_ttft_mean_ms
    if server is None:
        return None
    queue, load = level.queue_mean_ms or 0.0, level.load_mean_ms or 0.0
    prefill = level.prefill_mean_ms or 0.0
    other = server - queue - load - prefill
    client = level.client_overhead_ms or 0.0
    return tuple(max(0.0, v) for v in (queue, load, prefill, other, client))


def draw_breakdown(ax: Axes, runs: Sequence[RunData]) -> None:
    """Bars at each user level (categorical), side by side for several runs."""
    users = sorted({lv.users for run in runs for lv in run.levels})
    width = 0.8 / max(1, len(runs))
    labelled: set[str] = set()
    for i, run in enumerate(runs):
        for level in run.levels:
            parts = segments_ms(level)
            if parts is None:
                continue
            x = users.index(level.users) - 0.4 + width * (i + 0.5)
            top = _stack(ax, x, width * 0.9, parts, labelled)
            if len(runs) > 1:
                ax.text(x, top, run.label, ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(users)), [str(u) for u in users])
    ax.set_xlabel("concurrent users")
    ax.set_ylabel("mean TTFT (ms)")
    ax.set_ylim(bottom=0)


def _stack(ax: Axes, x: float, width: float, parts: Sequence[float], labelled: set[str]) -> float:
    """One stacked bar; each segment's label goes in the legend once. Returns its top."""
    bottom = 0.0
    for (label, colour), height in zip(SEGMENTS, parts, strict=True):
        new = label not in labelled and height > 0
        if new:
            labelled.add(label)
        ax.bar(x, height, width, bottom=bottom, color=colour, label=label if new else None)
        bottom += height
    return bottom
