"""Load one results directory (summary.json, requests.jsonl, sidecar.jsonl) into a RunData.

Thin I/O edge of the report: every problem with the files becomes one LoadgenError line.
Per-level numbers come from summary.json as the swarm wrote them; nothing is recomputed here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loadgen.errors import LoadgenError
from loadgen.records import RequestRecord
from loadgen.sidecar.levels import LevelWindow, load_samples, resources_per_level

SUMMARY_FILE = "summary.json"
REQUESTS_FILE = "requests.jsonl"
META_FILE = "meta.json"
_LEVEL_KEYS = ("levels", "stages")


@dataclass(frozen=True, slots=True)
class LevelRow:
    """One load level of one run, as the report shows it. None: not measured."""

    index: int
    users: int
    requests: int
    errors: int
    req_s: float | None
    output_tok_s: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    e2e_p95_ms: float | None
    vram_peak_bytes: int | None
    window_start_unix_ns: int | None
    window_end_unix_ns: int | None

    @property
    def error_pct(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0


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
    levels: tuple[LevelRow, ...]
    ttft_points: tuple[TtftPoint, ...]
    n_failed: int
    vram_idle_bytes: int | None
    engine: str = ""
    model: str = ""
    first_send_unix_ns: int | None = None  # the zero of `ttft_points`


def load_run(path: str | Path) -> RunData:
    """Read a results directory; bad or missing files raise LoadgenError (one line)."""
    root = Path(path)
    if not root.is_dir():
        raise LoadgenError(f"{root}: not a results directory")
    summary = _read_json(root / SUMMARY_FILE)
    meta_path = root / META_FILE
    meta = _read_json(meta_path) if meta_path.exists() else {}
    level_dicts = _level_dicts(root, summary)
    levels = [_level_row(root, i, d) for i, d in enumerate(level_dicts)]
    records = _read_records(root / REQUESTS_FILE)
    # `loadgen swarm` stores idle as measured before the first level started: prefer it, and
    # read sidecar.jsonl only for what summary.json lacks
    idle_in_summary = [v for d in level_dicts if (v := _int(d, "vram_idle_bytes")) is not None]
    vram_idle = idle_in_summary[0] if idle_in_summary else None
    if vram_idle is None or any(r.vram_peak_bytes is None for r in levels):
        levels, idle_from_samples = _with_vram(root, levels)
        vram_idle = idle_from_samples if vram_idle is None else vram_idle
    run_id = str(summary.get("run_id") or meta.get("run_id") or root.name)
    info = {**_dict(summary.get("meta")), **meta}
    return RunData(
        run_id=run_id,
        label=_str(info, "label") or run_id,
        path=root,
        levels=tuple(sorted(levels, key=lambda r: r.index)),
        ttft_points=_ttft_points(records),
        n_failed=sum(1 for r in records if not r.ok),
        vram_idle_bytes=vram_idle,
        engine=_str(info, "engine"),
        model=_str(info, "model"),
        first_send_unix_ns=min((r.wall_send_unix_ns for r in records), default=None),
    )


def load_runs(paths: Sequence[str | Path]) -> list[RunData]:
    """Load several runs and name each line by the first of label, engine, model, engine/model
    that tells every run apart (two simulator profiles share the engine "sim"), else run ids."""
    runs = [load_run(p) for p in paths]
    for key in ("label", "engine", "model", "engine/model"):
        labels = [_label_for(r, key) for r in runs]
        if all(labels) and len(set(labels)) == len(labels):
            return [replace(r, label=label) for r, label in zip(runs, labels, strict=True)]
    return [replace(r, label=r.run_id) for r in runs]


def _label_for(run: RunData, key: str) -> str:
    if key == "label":
        return run.label if run.label != run.run_id else ""
    if key == "engine/model":
        return f"{run.engine}/{run.model}" if run.engine and run.model else ""
    return run.engine if key == "engine" else run.model


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LoadgenError(f"{path}: missing (is this a loadgen results directory?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LoadgenError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LoadgenError(f"{path}: expected a JSON object")
    return data


def _read_records(path: Path) -> list[RequestRecord]:
    if not path.is_file():
        raise LoadgenError(f"{path}: missing (is this a loadgen results directory?)")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records: list[RequestRecord] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            records.append(RequestRecord.from_dict(json.loads(text)))
        except (ValueError, TypeError, AttributeError) as exc:
            if number == len(lines):  # a torn last line from a killed writer
                break
            raise LoadgenError(f"{path}:{number}: not a request record ({exc})") from None
    return records


def _level_dicts(root: Path, summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in _LEVEL_KEYS:
        value = summary.get(key)
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            return list(value)
    raise LoadgenError(f"{root / SUMMARY_FILE}: has no per-level list ('levels')")


def _num(data: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _int(data: Mapping[str, Any], *names: str) -> int | None:
    value = _num(data, *names)
    return None if value is None else int(value)


def _level_row(root: Path, position: int, d: Mapping[str, Any]) -> LevelRow:
    users = _int(d, "users", "stage_users", "target_users")
    if users is None:
        raise LoadgenError(f"{root / SUMMARY_FILE}: level {position} has no 'users'")
    index = _int(d, "stage_index", "index")
    return LevelRow(
        index=position if index is None else index,
        users=users,
        requests=_int(d, "requests", "n_requests") or 0,
        errors=_int(d, "errors", "n_errors", "failures") or 0,
        req_s=_num(d, "req_s", "requests_s"),
        output_tok_s=_num(d, "output_tok_s"),
        ttft_p50_ms=_num(d, "ttft_p50_ms"),
        ttft_p95_ms=_num(d, "ttft_p95_ms"),
        ttft_p99_ms=_num(d, "ttft_p99_ms"),
        e2e_p95_ms=_num(d, "e2e_p95_ms"),
        vram_peak_bytes=_int(d, "peak_vram_bytes", "vram_peak_bytes"),
        window_start_unix_ns=_int(d, "window_start_unix_ns"),
        window_end_unix_ns=_int(d, "window_end_unix_ns"),
    )


def _with_vram(root: Path, levels: list[LevelRow]) -> tuple[list[LevelRow], int | None]:
    """Fill each level's peak VRAM from sidecar.jsonl when summary.json did not carry it."""
    windows = [
        LevelWindow(r.index, r.users, r.window_start_unix_ns, r.window_end_unix_ns)
        for r in levels
        if r.window_start_unix_ns is not None and r.window_end_unix_ns is not None
    ]
    samples = load_samples(root) if windows else []
    if not samples:
        return levels, None
    by_index = {res.index: res for res in resources_per_level(samples, windows)}
    out = []
    for row in levels:
        res = by_index.get(row.index)
        if row.vram_peak_bytes is None and res is not None and res.vram_peak_bytes is not None:
            row = replace(row, vram_peak_bytes=res.vram_peak_bytes)
        out.append(row)
    idle = next((r.vram_idle_bytes for r in by_index.values()), None)
    return out, idle


def _ttft_points(records: Sequence[RequestRecord]) -> tuple[TtftPoint, ...]:
    if not records:
        return ()
    start_ns = min(r.wall_send_unix_ns for r in records)
    points = [
        # TTFT = t_first − t_send (DESIGN.md, "Metrics"), placed at the wall-clock send time.
        TtftPoint((r.wall_send_unix_ns - start_ns) / 1e9, (r.t_first_ns - r.t_send_ns) / 1e6)
        for r in records
        if r.ok and r.t_first_ns is not None
    ]
    return tuple(sorted(points, key=lambda p: p.t_s))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(info: Mapping[str, Any], key: str) -> str:
    value = info.get(key)
    return value if isinstance(value, str) and value != "unknown" else ""
