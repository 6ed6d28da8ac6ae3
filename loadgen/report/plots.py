"""The report's four charts as matplotlib figures (Agg, no pyplot state), one line per run.

Throughput vs users, TTFT p50/p95 vs users, peak VRAM vs users, TTFT over time, where the TTFT
goes when the server told it (report/breakdown_plot.py), and for a `loadgen capacity` run its
search (report/capacity_plot.py). Rendered to PNG bytes for files and to SVG text (glyphs as
paths, no fonts) for the self-contained HTML.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from loadgen.level_summary import LevelSummary
from loadgen.report.breakdown_plot import TITLE as BREAKDOWN_TITLE
from loadgen.report.breakdown_plot import draw_breakdown, has_breakdown
from loadgen.report.capacity_plot import draw_search
from loadgen.report.runs import RunData

FIG_SIZE_IN = (7.0, 4.2)
PNG_DPI = 120
_SVG_META = {"Date": None, "Creator": "loadgen"}


@dataclass(frozen=True, slots=True)
class Chart:
    """One rendered chart: a file-safe name, a title and its figure."""

    name: str
    title: str
    figure: Figure


def build_charts(runs: Sequence[RunData]) -> list[Chart]:
    """The four charts, in the order the report shows them, the TTFT breakdown when there is
    one, then each capacity search's."""
    specs: list[tuple[str, str, Callable[[Axes, Sequence[RunData]], None]]] = [
        ("throughput_vs_users", "Aggregate output throughput vs users", _throughput),
        ("ttft_vs_users", "TTFT p50 / p95 vs users", _ttft_levels),
        ("vram_vs_users", "Peak VRAM vs users", _vram),
        ("ttft_over_time", "TTFT over time", _ttft_time),
    ]
    if has_breakdown(runs):  # the server told where the TTFT went
        specs.append(("ttft_breakdown", BREAKDOWN_TITLE, draw_breakdown))
    charts = [_chart(name, title, draw, runs) for name, title, draw in specs]
    searches = [(run, run.capacity) for run in runs if run.capacity is not None]
    for i, (run, report) in enumerate(searches):  # `loadgen capacity`: its search
        name = "capacity_search" if len(searches) == 1 else f"capacity_search_{i + 1}"
        charts.append(
            _chart(name, f"Capacity search: {run.label}", draw_search, report, run.levels)
        )
    return charts


def _chart(name: str, title: str, draw: Callable[..., None], *data: Any) -> Chart:
    """One chart: `draw(ax, *data)` on a fresh figure, titled, with a grid and its legend."""
    fig = Figure(figsize=FIG_SIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    draw(ax, *data)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return Chart(name, title, fig)


def png_bytes(chart: Chart) -> bytes:
    buf = io.BytesIO()
    chart.figure.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": "loadgen"})
    return buf.getvalue()


def svg_text(chart: Chart) -> str:
    """SVG without the XML prolog, ready to inline in HTML."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": chart.name}):
        chart.figure.savefig(buf, format="svg", metadata=_SVG_META)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _color(i: int) -> str:
    return f"C{i % 10}"


def _series(
    levels: Sequence[LevelSummary], value: Callable[[LevelSummary], float | None]
) -> tuple[list[int], list[float]]:
    pairs = sorted((r.users, v) for r in levels if (v := value(r)) is not None)
    return [u for u, _ in pairs], [v for _, v in pairs]


def _user_axis(ax: Axes, runs: Sequence[RunData]) -> None:
    ticks = sorted({r.users for run in runs for r in run.levels})
    if ticks:
        ax.set_xticks(ticks)
    ax.set_xlabel("concurrent users")
    ax.set_ylim(bottom=0)


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes)


def _throughput(ax: Axes, runs: Sequence[RunData]) -> None:
    for i, run in enumerate(runs):
        x, y = _series(run.levels, lambda r: r.output_tok_s)
        ax.plot(x, y, marker="o", color=_color(i), label=run.label)
    ax.set_ylabel("output tokens/s")
    _user_axis(ax, runs)


def _ttft_levels(ax: Axes, runs: Sequence[RunData]) -> None:
    for i, run in enumerate(runs):
        x, y = _series(run.levels, lambda r: r.ttft_p50_ms)
        ax.plot(x, y, marker="o", color=_color(i), label=f"{run.label} p50")
        x, y = _series(run.levels, lambda r: r.ttft_p95_ms)
        ax.plot(x, y, marker="s", ls="--", color=_color(i), label=f"{run.label} p95")
    ax.set_ylabel("TTFT (ms)")
    _user_axis(ax, runs)


def _vram(ax: Axes, runs: Sequence[RunData]) -> None:
    drawn = False
    for i, run in enumerate(runs):
        x, y = _series(run.levels, lambda r: _gb(r.vram_peak_bytes))
        if not x:
            continue
        drawn = True
        ax.plot(x, y, marker="o", color=_color(i), label=f"{run.label} peak")
        if run.vram_idle_bytes:
            ax.axhline(
                run.vram_idle_bytes / 1e9, ls=":", color=_color(i), label=f"{run.label} idle"
            )
    if not drawn:
        _no_data(ax, "VRAM samples (run with --sidecar)")
    ax.set_ylabel("VRAM (GB)")
    _user_axis(ax, runs)


def _gb(value_bytes: int | None) -> float | None:
    return None if value_bytes is None else value_bytes / 1e9


def _ttft_time(ax: Axes, runs: Sequence[RunData]) -> None:
    for i, run in enumerate(runs):
        if run.ttft_points:
            xs = [p.t_s for p in run.ttft_points]
            ys = [p.ttft_ms for p in run.ttft_points]
            ax.scatter(xs, ys, s=6, alpha=0.5, color=_color(i), label=run.label)
    if not any(run.ttft_points for run in runs):
        _no_data(ax, "successful requests")
    if len(runs) == 1:
        _shade_windows(ax, runs[0])
    ax.set_xlabel("seconds since the run's first request")
    ax.set_ylabel("TTFT (ms)")
    ax.set_ylim(bottom=0)


def _shade_windows(ax: Axes, run: RunData) -> None:
    """Grey bands: each level's steady window (warmup excluded), labelled with its users."""
    t0 = run.first_send_unix_ns
    for level in run.levels if t0 is not None else ():
        start, end = level.window_start_unix_ns, level.window_end_unix_ns
        if start is None or end is None or t0 is None:
            continue
        ax.axvspan((start - t0) / 1e9, (end - t0) / 1e9, color="0.9", lw=0, zorder=0)
        ax.text(
            (start - t0) / 1e9,
            1.0,
            f" {level.users} user{'s' if level.users != 1 else ''}",
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize="small",
            color="0.3",
        )
