"""Open-loop arrivals: a Poisson process of send times shared by the users of one process.

Pure (times are perf_counter_ns values handed in); a user takes the next scheduled time and
sleeps until it, or sends at once if it is already late, so TTFT_sched shows the backlog.
"""

from __future__ import annotations

import random

_NS_PER_S = 1_000_000_000


class PoissonArrivals:
    """Exponential gaps at `rate_per_s`, reproducible from `seed`."""

    def __init__(self, rate_per_s: float, seed: int) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be above 0")
        self.rate_per_s = rate_per_s
        self._rng = random.Random(seed)
        self._next_ns: int | None = None

    def restart(self, now_ns: int) -> None:
        """The next arrival is `now_ns` (a new level): no backlog carried over from the last."""
        self._next_ns = now_ns

    def take(self, now_ns: int) -> int:
        """The next scheduled send time; the first arrival is `now_ns` of the first call."""
        if self._next_ns is None:
            self._next_ns = now_ns
        scheduled = self._next_ns
        self._next_ns += int(self._rng.expovariate(self.rate_per_s) * _NS_PER_S)
        return scheduled
