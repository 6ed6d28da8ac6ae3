"""The engine model run in virtual time: closed-loop users, no clock, no sockets.

Used to calibrate profiles and by unit tests: it shows what a profile does at N users exactly,
so the real-time server (and its benches) can be compared with the model it runs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from loadgen.sim.engine import Sequence, make_engine
from loadgen.sim.profiles import Profile


@dataclass(frozen=True, slots=True)
class LoopResult:
    """Closed-loop figures over the measurement window."""

    users: int
    output_tok_s: float  # Σ tokens of requests finished in the window / window
    ttft_mean_ms: float  # arrival (before the request overhead) to first token
    requests: int
    preemptions: int


@dataclass
class _Tally:
    tokens: int = 0
    requests: int = 0
    ttft_sum_ns: int = 0


def closed_loop(
    profile: Profile,
    users: int,
    prompt_tokens: int,
    output_tokens: int,
    duration_s: float = 60.0,
    warmup_s: float = 20.0,
    ramp_s: float = 10.0,
) -> LoopResult:
    """`users` clients, started evenly over `ramp_s`, each sending its next request as soon as
    the previous one ends (no think time)."""
    engine = make_engine(profile)
    overhead_ns = int(profile.request_overhead_ms * 1e6)
    start_ns, end_ns = int(warmup_s * 1e9), int((warmup_s + duration_s) * 1e9)
    gap_ns = int(ramp_s * 1e9 / users)
    # (ready_ns, tie, arrival_ns): requests on their way into the engine queue
    pending = [(u * gap_ns + overhead_ns, u, u * gap_ns) for u in range(users)]
    running: dict[Sequence, int] = {}  # sequence -> arrival_ns
    tally, now, tie = _Tally(), 0, users
    while now < end_ns:
        while pending and pending[0][0] <= now:
            _, _, arrival = heapq.heappop(pending)
            seq = Sequence(prompt_tokens, output_tokens)
            engine.submit(seq)
            running[seq] = arrival
        step = engine.plan_step(now)
        if step is None:
            now = pending[0][0]
            continue
        now += int(step.duration_ms * 1e6)
        engine.finish_step(step, now - int(step.duration_ms * 1e6), now)
        for seq in [s for s in step.running if s.state == "finished"]:
            arrival = running.pop(seq)
            if start_ns <= now <= end_ns:
                tally.tokens += seq.tokens_out
                tally.requests += 1
                tally.ttft_sum_ns += (seq.first_token_ns or now) - arrival
            tie += 1
            heapq.heappush(pending, (now + overhead_ns, tie, now))
    return LoopResult(
        users=users,
        output_tok_s=tally.tokens / duration_s,
        ttft_mean_ms=tally.ttft_sum_ns / tally.requests / 1e6 if tally.requests else 0.0,
        requests=tally.requests,
        preemptions=engine.preemptions_total,
    )
