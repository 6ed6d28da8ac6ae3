"""Load levels as they actually happened: when each started, ramped up, and ended (wall ns).

Pure: the plugin feeds it observations (target user count changes, spawning complete, stop)
with timestamps; it answers with each level's steady window. A level's window starts once its
users are all running *and* the warmup has passed, and ends when the next level starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class StageWindow:
    """One level. `window_*` bound the steady window; None while not yet known."""

    index: int
    users: int
    start_unix_ns: int
    ramp_done_unix_ns: int | None = None
    end_unix_ns: int | None = None
    warmup_s: float = 0.0

    @property
    def window_start_unix_ns(self) -> int | None:
        if self.ramp_done_unix_ns is None:
            return None
        warm = self.start_unix_ns + int(self.warmup_s * _NS_PER_S)
        return max(warm, self.ramp_done_unix_ns)

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
        }


class StageTracker:
    """Turns observations into StageWindows; each method returns the levels it closed."""

    def __init__(self, warmup_s: float) -> None:
        self.warmup_s = warmup_s
        self.stages: list[StageWindow] = []

    @property
    def current(self) -> StageWindow | None:
        last = self.stages[-1] if self.stages else None
        return last if last is not None and last.end_unix_ns is None else None

    def target(self, users: int, now_unix_ns: int) -> list[StageWindow]:
        """The target user count is `users` now; a change starts a new level."""
        current = self.current
        if current is not None and current.users == users:
            return []
        closed = self._close(now_unix_ns)
        if users > 0:
            index = len(self.stages)
            self.stages.append(StageWindow(index, users, now_unix_ns, warmup_s=self.warmup_s))
        return closed

    def ramp_done(self, users: int, now_unix_ns: int) -> None:
        """All `users` of the current level are running (Locust's spawning_complete)."""
        current = self.current
        if current is not None and current.ramp_done_unix_ns is None and users >= current.users:
            self.stages[-1] = replace(current, ramp_done_unix_ns=now_unix_ns)

    def stop(self, now_unix_ns: int) -> list[StageWindow]:
        """The run ended: close the running level."""
        return self._close(now_unix_ns)

    def _close(self, now_unix_ns: int) -> list[StageWindow]:
        current = self.current
        if current is None:
            return []
        ramp = current.ramp_done_unix_ns
        closed = replace(current, end_unix_ns=now_unix_ns, ramp_done_unix_ns=ramp)
        self.stages[-1] = closed
        return [closed]
