"""The capacity search as a chart: each probe in the order it ran (load on x, the first SLO's
metric on y), the SLO line, the knee (the capacity) and the first failing probe marked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes

from loadgen.capacity import STEADY, CapacityReport
from loadgen.level_summary import LevelSummary
from loadgen.slo import Slo, parse_slo

HELD, BROKE = "#2a9d4b", "#d1342f"


@dataclass(frozen=True, slots=True)
class ProbePoint:
    """One probe on the chart: its load, the metric's value there, held or not, its order."""

    order: int
    load: float
    value: float
    held: bool


def objective(report: CapacityReport) -> Slo | None:
    """The SLO the chart shows: the first one on a metric other than the error gate's."""
    slos = [parse_slo(text) for text in report.slos if text != STEADY]
    return next((s for s in slos if s.metric != "error_rate"), slos[0] if slos else None)


def probe_points(
    report: CapacityReport, levels: Sequence[LevelSummary], metric: str
) -> list[ProbePoint]:
    """The probes that measured `metric`, in the order they ran."""
    by_index = {level.stage_index: level for level in levels}
    points = []
    for order, probe in enumerate(report.probes):
        level = by_index.get(probe["stage_index"])
        value = None if level is None else getattr(level, metric, None)
        if value is not None:
            points.append(ProbePoint(order, float(probe["load"]), float(value), probe["held"]))
    return points


def draw_search(ax: Axes, report: CapacityReport, levels: Sequence[LevelSummary]) -> None:
    slo = objective(report)
    unit = "users" if report.mode == "users" else "req/s"
    ax.set_xlabel("concurrent users" if report.mode == "users" else "arrivals per second")
    if slo is None:
        return
    points = probe_points(report, levels, slo.metric)
    ax.plot([p.load for p in points], [p.value for p in points], ls=":", color="0.6", lw=1)
    for p in points:
        ax.scatter([p.load], [p.value], s=36, color=HELD if p.held else BROKE, zorder=3)
        ax.annotate(f"{p.order}", (p.load, p.value), textcoords="offset points", xytext=(5, 5))
    ax.axhline(slo.threshold, color=BROKE, ls="--", lw=1, label=f"SLO {slo}")
    if report.capacity > 0:
        ax.axvline(
            report.capacity, color=HELD, lw=1.5, label=f"capacity {report.capacity:g} {unit}"
        )
    _mark_broke(ax, report, points, unit)
    ax.scatter([], [], color=HELD, label="probe held")
    ax.scatter([], [], color=BROKE, label="probe broke")
    ax.set_ylabel(slo.metric)
    ax.set_ylim(bottom=0)


def _mark_broke(ax: Axes, report: CapacityReport, points: Sequence[ProbePoint], unit: str) -> None:
    """A ring around the first failing probe (the smallest load that broke)."""
    broke = first_failing(report)
    if broke is None:
        return
    order = report.probes.index(broke)
    for p in points:
        if p.order == order:
            ax.scatter(
                [p.load],
                [p.value],
                s=220,
                facecolors="none",
                edgecolors=BROKE,
                lw=2,
                zorder=4,
                label=f"first failing probe {p.load:g} {unit}",
            )


def first_failing(report: CapacityReport) -> dict[str, Any] | None:
    return next((p for p in report.probes if p["stage_index"] == report.broke_stage_index), None)
