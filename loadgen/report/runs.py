"""Load one results directory into a RunData: its RunSummary, plus what the report draws from
requests.jsonl (TTFT over time) and, when summary.json lacks them, sidecar.jsonl's VRAM columns.

Thin I/O edge of the report: every problem with the files becomes one LoadgenError line.
Per-level numbers come from summary.json as the swarm wrote them; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from loadgen.capacity import CapacityReport
from loadgen.diagnostics import Diagnostics
from loadgen.errors import LoadgenError
from loadgen.fingerprint import Fingerprint
from loadgen.level_summary import LevelSummary
from loadgen.levels import ResourceSeries
from loadgen.records import RequestRecord
from loadgen.results import read_requests, read_sidecar, read_summary
from loadgen.summary import RunSummary
from loadgen.timing import ttft_ms


@dataclass(frozen=True, slots=True)
class TtftPoint:
    """One request's TTFT at its send time (seconds since the run's first request)."""

    t_s: float
    ttft_ms: float


@dataclass(frozen=True, slots=True)
class RunData:
    """Everything the report draws for one run."""

    run_id: str
    label: str
    path: Path
    levels: tuple[LevelSummary, ...]
    ttft_points: tuple[TtftPoint, ...]
    n_failed: int
    vram_idle_bytes: int | None
    engine: str = ""
    model: str = ""
    first_send_unix_ns: int | None = None  # the zero of `ttft_points`
    capacity: CapacityReport | None = None  # `loadgen capacity`: its search (summary.json)
    fingerprint: Fingerprint | None = None  # meta.json's (loadgen/fingerprint.py)
    diagnostics: Diagnostics | None = None  # Ollama's capacity traps (summary.json)


def load_run(path: str | Path) -> RunData:
    """Read a results directory; bad or missing files raise LoadgenError (one line)."""
    root = Path(path)
    if not root.is_dir():
        raise LoadgenError(f"{root}: not a results directory")
    summary = read_summary(root)
    records = read_requests(root)
    levels = _with_vram(root, summary)
    idle = next((lv.vram_idle_bytes for lv in levels if lv.vram_idle_bytes is not None), None)
    meta = summary.meta
    return RunData(
        run_id=summary.run_id or root.name,
        label=summary.run_id or root.name,
        path=root,
        levels=tuple(sorted(levels, key=lambda lv: lv.index)),
        ttft_points=_ttft_points(records),
        n_failed=sum(1 for r in records if not r.ok),
        vram_idle_bytes=idle,
        engine=_known(meta.engine),
        model=_known(meta.model),
        first_send_unix_ns=min((r.wall_send_unix_ns for r in records), default=None),
        capacity=None if summary.capacity is None else CapacityReport.from_dict(summary.capacity),
        fingerprint=meta.fingerprint,
        diagnostics=summary.diagnostics,
    )


def load_runs(paths: Sequence[str | Path]) -> list[RunData]:
    """Load several runs and name each line by the first of engine, model, engine/model that
    tells every run apart (two simulator profiles share the engine "sim"), else run ids."""
    runs = [load_run(p) for p in paths]
    for key in ("engine", "model", "engine/model"):
        labels = [_label_for(r, key) for r in runs]
        if all(labels) and len(set(labels)) == len(labels):
            return [replace(r, label=label) for r, label in zip(runs, labels, strict=True)]
    return [replace(r, label=r.run_id) for r in runs]


def _label_for(run: RunData, key: str) -> str:
    if key == "engine/model":
        return f"{run.engine}/{run.model}" if run.engine and run.model else ""
    return run.engine if key == "engine" else run.model


def _with_vram(root: Path, summary: RunSummary) -> list[LevelSummary]:
    """The levels, with VRAM and RSS from sidecar.jsonl when summary.json did not carry them
    (a sidecar run beside the swarm rather than by it)."""
    if all(lv.vram_peak_bytes is not None for lv in summary.levels):
        return list(summary.levels)
    return list(summary.levels_with(ResourceSeries.of(read_sidecar(root))))


def _ttft_points(records: Sequence[RequestRecord]) -> tuple[TtftPoint, ...]:
    if not records:
        return ()
    start_ns = min(r.wall_send_unix_ns for r in records)
    points = [
        TtftPoint((r.wall_send_unix_ns - start_ns) / 1e9, ttft)
        for r in records
        if r.ok and (ttft := ttft_ms(r)) is not None
    ]
    return tuple(sorted(points, key=lambda p: p.t_s))


def _known(value: str) -> str:
    return "" if value == "unknown" else value
