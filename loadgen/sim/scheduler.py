"""The one asyncio loop per server that drives every stream: plan a step, wait, emit tokens.

Steps are chained on deadlines (the next step starts when the previous one was due), so late
wake-ups do not accumulate into drift; the lateness of each wake-up is kept as the step-timing
error that bench/sim_capacity.py reports.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

from loadgen.sim.engine import Engine

# A wake-up later than this is not caught up (the next step starts now, not at its deadline);
# below it, the next steps start without sleeping until the engine's time is back on schedule.
_MAX_CATCH_UP_NS = 500_000_000
# The last stretch before a deadline is spent yielding to the loop instead of in epoll_wait.
_SPIN_S = 0.0012


@dataclass
class StepTiming:
    """Lateness of step ends versus their deadlines, in ns (the last 100,000 steps kept)."""

    steps: int = 0
    late_sum_ns: int = 0
    late_max_ns: int = 0
    late_over_1ms: int = 0
    recent_ns: collections.deque[int] = field(
        default_factory=lambda: collections.deque(maxlen=100_000)
    )

    def add(self, late_ns: int) -> None:
        late_ns = max(0, late_ns)
        self.steps += 1
        self.late_sum_ns += late_ns
        self.late_max_ns = max(self.late_max_ns, late_ns)
        self.late_over_1ms += late_ns > 1_000_000
        self.recent_ns.append(late_ns)

    def as_dict(self) -> dict[str, float]:
        mean = self.late_sum_ns / self.steps if self.steps else 0.0
        ordered = sorted(self.recent_ns)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6 if ordered else 0.0

        return {
            "steps": self.steps,
            "late_mean_ms": mean / 1e6,
            "late_p50_ms": pct(0.50),
            "late_p99_ms": pct(0.99),
            "late_max_ms": self.late_max_ns / 1e6,
            "late_over_1ms": self.late_over_1ms,
        }


class Scheduler:
    """Runs `engine` in real time; `time_scale` < 1 makes every step proportionally shorter."""

    def __init__(self, engine: Engine, time_scale: float = 1.0) -> None:
        self.engine = engine
        self.time_scale = time_scale
        self.timing = StepTiming()
        self.busy_ns = 0  # time spent inside steps, for a utilisation figure
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something was submitted: wake the loop if it is idle."""
        self._wake.set()

    async def run(self) -> None:
        """Forever: idle until there is work, then step on deadlines."""
        loop_start_ns: int | None = None
        while True:
            if not self.engine.has_work():
                loop_start_ns = None
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.perf_counter_ns()
            if loop_start_ns is None or now - loop_start_ns > _MAX_CATCH_UP_NS:
                loop_start_ns = now
            # Admission is stamped now, not at loop_start_ns: a step chained on a deadline that
            # has already passed (a late wake-up, catching up, or the zero-cost steps of `fast`)
            # cannot admit a request that arrived after that deadline any earlier than now.
            step = self.engine.plan_step(now)
            if step is None:  # waiting work that cannot be admitted yet
                self._wake.clear()
                await self._wake.wait()
                continue
            deadline = loop_start_ns + int(step.duration_ms * 1e6 * self.time_scale)
            await _sleep_until(deadline)
            end = time.perf_counter_ns()
            if deadline > loop_start_ns:
                self.timing.add(end - deadline)
            self.busy_ns += deadline - loop_start_ns
            self.engine.finish_step(step, now, end)  # the first token's prefill: now -> end
            loop_start_ns = deadline


async def _sleep_until(deadline_ns: int) -> None:
    """Sleep, then yield until the deadline: epoll waits in whole ms, this lands within ~0.1 ms."""
    delay_s = (deadline_ns - time.perf_counter_ns()) / 1e9
    if delay_s > _SPIN_S:
        await asyncio.sleep(delay_s - _SPIN_S)
    # sleep(0) still yields, so a zero-cost profile lets handlers write between steps.
    await asyncio.sleep(0)
    while time.perf_counter_ns() < deadline_ns:
        await asyncio.sleep(0)
