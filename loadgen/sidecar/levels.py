"""Idle and peak VRAM and engine RSS per load level: the reference table's resource columns.

Pure: sidecar samples and level windows (wall-clock unix ns) in, one row per level out.
VRAM is summed over GPUs per tick; NVML readings win over simulated ones when both exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadgen.errors import LoadgenError
from loadgen.records import GpuSample, ProcessSample
from loadgen.sidecar.samples import Sample, from_line
from loadgen.sidecar.writer import SIDECAR_FILE


@dataclass(frozen=True, slots=True)
class LevelWindow:
    """One load level as the swarm ran it: [start_unix_ns, end_unix_ns)."""

    index: int
    users: int
    start_unix_ns: int
    end_unix_ns: int


@dataclass(frozen=True, slots=True)
class LevelResources:
    """Resource columns of one level. `*_idle_*` are run-wide: before the first level started."""

    index: int
    users: int
    vram_idle_bytes: int | None  # min total VRAM before the first level (else in the first level)
    vram_peak_bytes: int | None  # max total VRAM inside this level
    engine_rss_idle_bytes: int | None
    engine_rss_peak_bytes: int | None
    n_gpu_ticks: int  # ticks with a VRAM reading inside this level
    vram_source: str | None  # "nvml" or "sim"


def vram_per_tick(samples: Iterable[Sample]) -> tuple[dict[int, int], str | None]:
    """wall_unix_ns -> VRAM used summed over GPUs, from NVML if any NVML sample exists, else sim."""
    by_source: dict[str, dict[int, int]] = {"nvml": {}, "sim": {}}
    for s in samples:
        if isinstance(s, GpuSample):
            ticks = by_source[s.source]
            ticks[s.wall_unix_ns] = ticks.get(s.wall_unix_ns, 0) + s.vram_used_bytes
    for source in ("nvml", "sim"):
        if by_source[source]:
            return by_source[source], source
    return {}, None


def rss_per_tick(samples: Iterable[Sample]) -> dict[int, int]:
    """wall_unix_ns -> engine tree RSS, for ticks where the engine was alive."""
    return {
        s.wall_unix_ns: s.rss_bytes for s in samples if isinstance(s, ProcessSample) and s.alive
    }


def resources_per_level(
    samples: Sequence[Sample], windows: Sequence[LevelWindow]
) -> list[LevelResources]:
    """One LevelResources per window, in the windows' order."""
    if not windows:
        return []
    vram, source = vram_per_tick(samples)
    rss = rss_per_tick(samples)
    first = min(windows, key=lambda w: w.start_unix_ns)
    vram_idle = _idle(vram, first)
    rss_idle = _idle(rss, first)
    rows = []
    for w in windows:
        inside = [v for t, v in vram.items() if w.start_unix_ns <= t < w.end_unix_ns]
        rss_inside = [v for t, v in rss.items() if w.start_unix_ns <= t < w.end_unix_ns]
        rows.append(
            LevelResources(
                index=w.index,
                users=w.users,
                vram_idle_bytes=vram_idle,
                vram_peak_bytes=max(inside, default=None),
                engine_rss_idle_bytes=rss_idle,
                engine_rss_peak_bytes=max(rss_inside, default=None),
                n_gpu_ticks=len(inside),
                vram_source=source,
            )
        )
    return rows


def _idle(series: dict[int, int], first: LevelWindow) -> int | None:
    before = [v for t, v in series.items() if t < first.start_unix_ns]
    if before:
        return min(before)
    during = [v for t, v in series.items() if first.start_unix_ns <= t < first.end_unix_ns]
    return min(during, default=None)


def load_samples(results_dir: str | Path) -> list[Sample]:
    """Every sample in <results_dir>/sidecar.jsonl ([] if the sidecar did not run).

    A torn last line (a sidecar killed mid-write) is skipped; any other bad line is an error.
    """
    path = Path(results_dir) / SIDECAR_FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Sample] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            sample = from_line(json.loads(text))
        except (ValueError, TypeError) as exc:
            if number == len(lines):
                break
            raise LoadgenError(f"{path}:{number}: not a sidecar sample ({exc})") from exc
        if sample is not None:
            out.append(sample)
    return out
