"""The capacity answer as text: the capacity and its figures, the first probe that broke, and
every probe of the search in a table (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadgen.capacity import STEADY, CapacityReport
from loadgen.level_summary import LevelSummary

_COLUMNS = ("probe", "load", "verdict", "req/s", "tok/s", "TTFT p50", "TTFT p95", "ITL p99")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def figures(level: LevelSummary | None) -> str:
    """tok/s, req/s and the TTFT/ITL percentiles of a level, on one line."""
    if level is None:
        return "not measured"
    return (
        f"{level.output_tok_s:.1f} tok/s, {level.req_s:.2f} req/s, TTFT p50/p95/p99"
        f" {_ms(level.ttft_p50_ms)}/{_ms(level.ttft_p95_ms)}/{_ms(level.ttft_p99_ms)} ms,"
        f" ITL p50/p99 {_ms(level.itl_p50_ms)}/{_ms(level.itl_p99_ms)} ms"
    )


def _row(probe: Mapping[str, Any], level: LevelSummary | None, unit: str) -> list[str]:
    verdict = (
        "held" if probe["held"] else "broke " + ", ".join(b["metric"] for b in probe["breaches"])
    )
    cells = [str(probe["stage_index"]), f"{probe['load']:g} {unit}", verdict]
    if level is None:
        return [*cells, "-", "-", "-", "-", "-"]
    return [
        *cells,
        f"{level.req_s:.2f}",
        f"{level.output_tok_s:.1f}",
        _ms(level.ttft_p50_ms),
        _ms(level.ttft_p95_ms),
        _ms(level.itl_p99_ms),
    ]


def _breach_text(breach: Mapping[str, Any]) -> str:
    if breach["metric"] == STEADY:
        return f"{STEADY}: {breach.get('reason') or 'not settled'}"
    if breach["value"] is None:
        return f"{breach['slo']}: {breach['metric']} was not measured"
    excess = breach.get("excess")
    by = "" if excess is None else f", {excess:.0%} past the limit"
    return f"{breach['slo']}: {breach['metric']} = {breach['value']:.4g}{by}"


def format_capacity(report: CapacityReport, levels: Sequence[LevelSummary]) -> str:
    """The answer, then the probes (in the order they ran)."""
    by_index = {level.stage_index: level for level in levels}
    unit = "users" if report.mode == "users" else "req/s"
    held = by_index.get(report.held_stage_index) if report.held_stage_index is not None else None
    lines = [f"capacity: {report.capacity:g} {unit} ({report.reason}) for {', '.join(report.slos)}"]
    if report.held_stage_index is not None:
        lines.append(f"  there: {figures(held)}")
    broke = [p for p in report.probes if p["stage_index"] == report.broke_stage_index]
    if broke:
        lines.append(f"first failing probe: {broke[0]['load']:g} {unit}")
        lines += [f"  broke {_breach_text(b)}" for b in broke[0]["breaches"]]
    if report.need is not None:
        verdict = "enough" if report.enough else "not enough"
        lines.append(f"need: {report.need:g} {unit}: {verdict}")
    rows = [_row(p, by_index.get(p["stage_index"]), unit) for p in report.probes]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    table = [_COLUMNS, *rows]
    lines.append("")
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(line.rstrip() for line in lines)
