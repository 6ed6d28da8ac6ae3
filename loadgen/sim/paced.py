"""Per-stream pacing: every running sequence has its own token clock at `stream_tok_s`.

Token k of a sequence is due at admitted + k x interval, whatever else runs, so the rate per
stream does not fall as streams are added (the step model's one shared step would). One loop
keeps every stream's next deadline in a heap; deadlines chain per stream, so late wake-ups do not
drift, and the lateness of each token is kept as the step-timing error /sim/stats reports.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from loadgen.sim.engine import Engine, Sequence, Step
from loadgen.sim.scheduler import StepTiming

# A stream later than this is not caught up: its next token is one interval from now.
_MAX_CATCH_UP_NS = 500_000_000


class PacedScheduler:
    """Runs `engine` with one token clock per stream; `time_scale` < 1 shortens every interval.

    Admission happens in `notify()` (the handler calls it right after submitting), so a request
    waits for nothing but its first interval.
    """

    def __init__(self, engine: Engine, tok_s: float, time_scale: float = 1.0) -> None:
        self.engine = engine
        self.time_scale = time_scale
        self.interval_ns = max(1, round(1e9 / tok_s * time_scale))
        self.timing = StepTiming()
        self.busy_ns = 0  # wall time with at least one stream running
        self._due: list[tuple[int, int, Sequence]] = []  # (deadline_ns, order, sequence)
        self._order = itertools.count()
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Something was submitted: admit it now and start its clock."""
        self._admit(time.perf_counter_ns())
        self._wake.set()

    def _admit(self, now_ns: int) -> None:
        step = self.engine.plan_step(now_ns)
        for seq in step.admitted if step is not None else ():
            heapq.heappush(self._due, (now_ns + self.interval_ns, next(self._order), seq))

    async def run(self) -> None:
        """Forever: sleep until the earliest deadline, then give each due stream its token."""
        busy_since_ns: int | None = None
        while True:
            if not self._due:
                if busy_since_ns is not None:
                    self.busy_ns += time.perf_counter_ns() - busy_since_ns
                    busy_since_ns = None
                self._wake.clear()
                await self._wake.wait()
                continue
            if busy_since_ns is None:
                busy_since_ns = time.perf_counter_ns()
            delay_ns = self._due[0][0] - time.perf_counter_ns()
            # asyncio.sleep(0) still yields, so handlers write between rounds at any rate.
            await asyncio.sleep(max(0.0, delay_ns / 1e9))
            now = time.perf_counter_ns()
            self.emit_due(now)
            self.busy_ns += now - busy_since_ns
            busy_since_ns = now

    def emit_due(self, now_ns: int) -> int:
        """One token to every stream whose deadline has passed (more to a stream late by more
        than an interval); how many tokens that is."""
        due: list[Sequence] = []
        owed: dict[Sequence, int] = {}  # tokens given this round, per stream
        while self._due and self._due[0][0] <= now_ns:
            deadline, _, seq = heapq.heappop(self._due)
            n = owed.get(seq, 0) + 1
            if seq.state != "running":  # cancelled or finished: its clock stops
                continue
            self.timing.add(now_ns - deadline)
            due.append(seq)
            owed[seq] = n
            if seq.tokens_out + n < seq.tokens_target:  # its clock runs on
                start = deadline if now_ns - deadline < _MAX_CATCH_UP_NS else now_ns
                heapq.heappush(self._due, (start + self.interval_ns, next(self._order), seq))
        if due:
            step = Step(tuple(due), (), 0, self.interval_ns / 1e6)
            self.engine.finish_step(step, now_ns - self.interval_ns, now_ns)
            self._admit(now_ns)  # slots freed by finished streams (bounded profiles)
        return len(due)
