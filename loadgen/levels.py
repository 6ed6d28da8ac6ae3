"""Load levels as they actually happened, and the records and sidecar samples each one holds.

Pure: the swarm feeds `LevelTracker` observations (target user count changes, spawning
complete, stop) with wall-clock timestamps; each `Level` answers with its steady window, which
starts once its users all run *and* the warmup has passed *and* the level has settled
(loadgen/steady.py), and ends when the next level starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from loadgen.records import GpuSample, ProcessSample, RequestRecord, SidecarSample
from loadgen.stats import LevelSamples

NS_PER_S = 1_000_000_000
CUT_OFF_DETAIL = "cut off: the run ended"  # a request the run's end stopped mid-flight


def cut_off(record: RequestRecord) -> bool:
    """True for a request the run's end stopped mid-flight: on record, never in a level."""
    return record.error_type == "truncated" and record.error_detail == CUT_OFF_DETAIL


@dataclass(frozen=True, slots=True)
class Level:
    """One level. `window_*` bound the steady window; None while not yet known."""

    index: int
    users: int
    start_unix_ns: int
    ramp_done_unix_ns: int | None = None
    end_unix_ns: int | None = None
    warmup_s: float = 0.0
    ramp_s: float = 0.0  # its new users started spread over this long (loadgen/run/plan.py)
    steady_start_unix_ns: int | None = None  # when it settled (None: not, or not yet judged)
    steady: bool | None = None  # None: not judged
    steady_reason: str = ""  # one line

    @property
    def floor_unix_ns(self) -> int | None:
        """The earliest the window may start: all users running and the warmup over."""
        if self.ramp_done_unix_ns is None:
            return None
        warm = self.start_unix_ns + int(self.warmup_s * NS_PER_S)
        return max(warm, self.ramp_done_unix_ns)

    @property
    def window_start_unix_ns(self) -> int | None:
        """The floor, or later: when the level settled (a level that never did keeps its floor)."""
        floor = self.floor_unix_ns
        if floor is None or self.steady_start_unix_ns is None:
            return floor
        return max(floor, self.steady_start_unix_ns)

    @property
    def window_end_unix_ns(self) -> int | None:
        return self.end_unix_ns

    @property
    def has_window(self) -> bool:
        """True once ended with a window of positive length (a level cut short has none)."""
        start, end = self.window_start_unix_ns, self.end_unix_ns
        return start is not None and end is not None and end > start

    def to_dict(self) -> dict[str, int | float | None]:
        return {
            "index": self.index,
            "users": self.users,
            "start_unix_ns": self.start_unix_ns,
            "window_start_unix_ns": self.window_start_unix_ns,
            "window_end_unix_ns": self.window_end_unix_ns,
            "warmup_s": self.warmup_s,
            "ramp_s": self.ramp_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, int | float | None]) -> Level:
        """Inverse of `to_dict`: the window start stands in for the ramp's end."""
        ramp = data.get("window_start_unix_ns")
        end = data.get("window_end_unix_ns")
        return cls(
            index=int(data.get("index") or 0),
            users=int(data.get("users") or 0),
            start_unix_ns=int(data.get("start_unix_ns") or 0),
            ramp_done_unix_ns=None if ramp is None else int(ramp),
            end_unix_ns=None if end is None else int(end),
            warmup_s=float(data.get("warmup_s") or 0.0),
            ramp_s=float(data.get("ramp_s") or 0.0),
        )


class LevelTracker:
    """Turns observations into Levels; each method returns the levels it closed."""

    def __init__(self, warmup_s: float) -> None:
        self.warmup_s = warmup_s
        self.levels: list[Level] = []

    @property
    def current(self) -> Level | None:
        last = self.levels[-1] if self.levels else None
        return last if last is not None and last.end_unix_ns is None else None

    def target(self, users: int, now_unix_ns: int) -> list[Level]:
        """The target user count is `users` now; a change starts a new level."""
        current = self.current
        if current is not None and current.users == users:
            return []
        closed = self._close(now_unix_ns)
        if users > 0:
            index = len(self.levels)
            self.levels.append(Level(index, users, now_unix_ns, warmup_s=self.warmup_s))
        return closed

    def ramp_done(self, users: int, now_unix_ns: int, ramp_s: float = 0.0) -> None:
        """All `users` of the current level are running (Locust's spawning_complete), and have
        sent their first request by `now_unix_ns` (after their phase); `ramp_s`: how long the
        level's new users took to start."""
        current = self.current
        if current is not None and current.ramp_done_unix_ns is None and users >= current.users:
            self.levels[-1] = replace(current, ramp_done_unix_ns=now_unix_ns, ramp_s=ramp_s)

    def judged(self, index: int, steady: bool, start_unix_ns: int | None, reason: str) -> Level:
        """Level `index` settled at `start_unix_ns` (steady) or never did; the updated level."""
        level = replace(
            self.levels[index],
            steady=steady,
            steady_start_unix_ns=start_unix_ns,
            steady_reason=reason,
        )
        self.levels[index] = level
        return level

    def stop(self, now_unix_ns: int) -> list[Level]:
        """The run ended: close the running level."""
        return self._close(now_unix_ns)

    def _close(self, now_unix_ns: int) -> list[Level]:
        current = self.current
        if current is None:
            return []
        closed = replace(current, end_unix_ns=now_unix_ns)
        self.levels[-1] = closed
        return [closed]


def first_window(levels: Iterable[Level]) -> tuple[int, int] | None:
    """The run's earliest steady window (start, end): VRAM and RSS before it are idle."""
    windows = [
        (start, end)
        for lv in levels
        if lv.has_window
        and (start := lv.window_start_unix_ns) is not None
        and (end := lv.end_unix_ns) is not None
    ]
    return min(windows, default=None)


def wall_end_unix_ns(record: RequestRecord) -> int:
    """When the request ended, on its sender's wall clock.

    A record's latencies come from its own process's monotonic clock; its wall-clock end places
    it in a level, so records of workers on other hosts land in the right window (NTP)."""
    return record.wall_send_unix_ns + (record.t_end_ns - record.t_send_ns)


def samples_in_window(records: Iterable[RequestRecord], level: Level) -> LevelSamples:
    """The samples of the records that ended inside the level's steady window; a request the
    run's end cut off never counts, wherever its end falls (a worker may stop its users after
    the master closed the last window, or before)."""
    start, end = level.window_start_unix_ns, level.window_end_unix_ns
    samples = LevelSamples()
    if start is None or end is None:
        return samples
    for record in records:
        if start <= wall_end_unix_ns(record) < end and not cut_off(record):
            samples.add(record)
    return samples


def vram_per_tick(samples: Iterable[SidecarSample]) -> tuple[dict[int, int], str | None]:
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


def rss_per_tick(samples: Iterable[SidecarSample]) -> dict[int, int]:
    """wall_unix_ns -> engine tree RSS, for ticks where the engine was alive."""
    return {
        s.wall_unix_ns: s.rss_bytes for s in samples if isinstance(s, ProcessSample) and s.alive
    }


@dataclass(frozen=True, slots=True)
class Resources:
    """A level's resource columns. Idle is run-wide: before the run's first steady window."""

    vram_idle_bytes: int | None  # VRAM summed over GPUs
    vram_peak_bytes: int | None  # max inside this level's steady window
    engine_rss_idle_bytes: int | None  # the engine's process tree
    engine_rss_peak_bytes: int | None


@dataclass(frozen=True, slots=True)
class ResourceSeries:
    """Total VRAM and engine RSS per sidecar tick (wall unix ns), built once per run."""

    vram_bytes: dict[int, int]
    rss_bytes: dict[int, int]

    @classmethod
    def of(cls, samples: Iterable[SidecarSample]) -> ResourceSeries:
        samples = list(samples)
        return cls(vram_per_tick(samples)[0], rss_per_tick(samples))

    def __bool__(self) -> bool:
        return bool(self.vram_bytes or self.rss_bytes)

    def resources(
        self, run_start_unix_ns: int, first_window: tuple[int, int], level: tuple[int, int]
    ) -> Resources:
        """Idle: the minimum before the run started, else between its start and the first
        steady window, else inside that window. Peak: the maximum inside `level`. Windows
        are (start, end) wall unix ns."""
        return Resources(
            vram_idle_bytes=_idle(self.vram_bytes, run_start_unix_ns, first_window),
            vram_peak_bytes=_peak(self.vram_bytes, *level),
            engine_rss_idle_bytes=_idle(self.rss_bytes, run_start_unix_ns, first_window),
            engine_rss_peak_bytes=_peak(self.rss_bytes, *level),
        )


def _peak(series: dict[int, int], start_unix_ns: int, end_unix_ns: int) -> int | None:
    return max((v for t, v in series.items() if start_unix_ns <= t < end_unix_ns), default=None)


def _idle(series: dict[int, int], run_start_unix_ns: int, first: tuple[int, int]) -> int | None:
    before = [v for t, v in series.items() if t < run_start_unix_ns]
    if before:
        return min(before)
    ramp = _min(series, run_start_unix_ns, first[0])
    return ramp if ramp is not None else _min(series, *first)


def _min(series: dict[int, int], start_unix_ns: int, end_unix_ns: int) -> int | None:
    return min((v for t, v in series.items() if start_unix_ns <= t < end_unix_ns), default=None)
