"""The conductor's judge of steady windows: when each level settled (loadgen/steady.py), and
whether an auto level (--step-time auto) has measured enough for the shape to move on.
"""

from __future__ import annotations

import time
from typing import Any

from loadgen.levels import Level
from loadgen.results import SidecarTail
from loadgen.steady import Steadiness, engine_in_flight, judge, window_enough
from loadgen.swarm.collector import Collector

NS_PER_S = 1_000_000_000


class Settling:
    """Judges levels from the collector's records and the sidecar's engine samples."""

    def __init__(self, collector: Collector, sidecar: SidecarTail, options: Any) -> None:
        self.collector = collector
        self.sidecar = sidecar
        self.interval_s = float(options.interval)
        self.auto = getattr(options, "step_time", None) == "auto"
        self.min_requests = int(getattr(options, "min_requests", 50) or 50)
        self.max_step_s = float(getattr(options, "max_step_time", 0) or 0)
        self._marks: dict[int, int] = {}  # level index -> how many records there were at its start
        self._done: set[int] = set()

    def level_started(self, level: Level) -> None:
        self._marks[level.index] = len(self.collector.records)

    def judge(self, level: Level, until_unix_ns: int) -> Steadiness:
        """`level`'s verdict over its intervals up to `until_unix_ns` (its end, or now)."""
        floor = level.floor_unix_ns
        if floor is None:
            return Steadiness(False, None, "not settled: its users never all ran")
        # from the level before's start: every record that can overlap this level's intervals
        since = self._marks.get(level.index - 1, 0)
        records = self.collector.records[since:]
        engine = engine_in_flight(self.sidecar.read())
        return judge(records, floor, until_unix_ns, self.interval_s, engine)

    def check(self, level: Level, now_unix_ns: int) -> None:
        """Auto levels: `level` is done once its steady window so far holds enough."""
        if not self.auto or level.index in self._done:
            return
        verdict = self.judge(level, now_unix_ns)
        if verdict.steady and verdict.start_unix_ns is not None:
            records = self.collector.records[self._marks.get(level.index, 0) :]
            if window_enough(records, verdict.start_unix_ns, now_unix_ns, self.min_requests):
                self._done.add(level.index)

    def level_done(self, index: int) -> bool:
        """The shape's question: has level `index` measured enough?"""
        return index in self._done

    def time_left_s(self, levels_total: int, level: Level | None) -> float | None:
        """Auto levels: at most this long is left (each level at its cap)."""
        if level is None or self.max_step_s <= 0:
            return None
        in_level_s = (time.time_ns() - level.start_unix_ns) / NS_PER_S
        after = max(0, levels_total - level.index - 1)
        return after * self.max_step_s + max(0.0, self.max_step_s - in_level_s)
