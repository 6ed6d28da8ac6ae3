"""Per-level idle/peak VRAM and engine RSS, from the sidecar's samples beside the run.

`loadgen swarm --sidecar` (or any sidecar given the same --results) writes sidecar.jsonl into
the results directory; its wall clock is the swarm's (same host). No locust import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from loadgen.errors import LoadgenError
from loadgen.sidecar.levels import LevelWindow, load_samples, resources_per_level
from loadgen.sidecar.samples import Sample
from loadgen.summary import LevelSummary
from loadgen.swarm.stages import StageWindow

RAMP_INDEX = -1  # the span from the run's start to the first steady window


def level_windows(stages: Sequence[StageWindow]) -> list[LevelWindow]:
    """Each level's steady window, preceded by the span from the run's start to the first one,
    so that idle (the minimum before the earliest window) is read before any user started."""
    windows = [
        LevelWindow(s.index, s.users, start, end)
        for s in stages
        if (start := s.window_start_unix_ns) is not None
        and (end := s.window_end_unix_ns) is not None
        and s.has_window
    ]
    if windows:
        first_start = min(w.start_unix_ns for w in windows)
        run_start = min(s.start_unix_ns for s in stages)
        windows.insert(0, LevelWindow(RAMP_INDEX, 0, run_start, first_start))
    return windows


def with_resources(
    levels: Sequence[LevelSummary], stages: Sequence[StageWindow], samples: Sequence[Sample]
) -> list[LevelSummary]:
    """`levels` with vram_idle/peak_bytes and engine_rss_idle/peak_bytes filled from `samples`."""
    rows = {r.index: r for r in resources_per_level(samples, level_windows(stages))}
    out = []
    for level in levels:
        row = rows.get(level.stage_index)
        if row is not None:
            level = replace(
                level,
                vram_idle_bytes=row.vram_idle_bytes,
                vram_peak_bytes=row.vram_peak_bytes,
                engine_rss_idle_bytes=row.engine_rss_idle_bytes,
                engine_rss_peak_bytes=row.engine_rss_peak_bytes,
            )
        out.append(level)
    return out


def read_samples(results_dir: str | Path) -> list[Sample]:
    """The samples of <results_dir>/sidecar.jsonl; [] when there is none. An unreadable file
    costs the resource columns, never the run's summary: it is one line on stderr."""
    try:
        return load_samples(results_dir)
    except (LoadgenError, OSError) as exc:
        print(f"loadgen: sidecar samples ignored: {exc}", file=sys.stderr, flush=True)
        return []


def add_resources(
    levels: Sequence[LevelSummary], stages: Sequence[StageWindow], results_dir: str | Path
) -> list[LevelSummary]:
    """`with_resources` over the sidecar samples in `results_dir` (levels unchanged if none)."""
    samples = read_samples(results_dir)
    return with_resources(levels, stages, samples) if samples else list(levels)
