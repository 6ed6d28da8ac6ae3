"""The engine model run in virtual time: closed-loop users, no clock, no sockets.

Used to calibrate profiles and by unit tests: it shows what a profile does at N users exactly,
so the real-time server (and its benches) can be compared with the model it runs.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from loadgen.sim.engine import Sequence, make_engine
from loadgen.sim.profiles import Profile
from loadgen.stats import nearest_rank


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
    ttft_ns: list[int] = field(default_factory=list)  # every request finished in the window
    itl_ns: list[int] = field(default_factory=list)  # every token gap of those requests


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
    tally, preemptions = _run(
        profile, users, prompt_tokens, output_tokens, duration_s, warmup_s, ramp_s
    )
    return LoopResult(
        users=users,
        output_tok_s=tally.tokens / duration_s,
        ttft_mean_ms=tally.ttft_sum_ns / tally.requests / 1e6 if tally.requests else 0.0,
        requests=tally.requests,
        preemptions=preemptions,
    )


@dataclass(frozen=True, slots=True)
class LoopLatencies:
    """Closed-loop percentiles over the measurement window (exact, nearest rank), as a level's
    summary names them; None when no request finished in the window."""

    users: int
    output_tok_s: float
    req_s: float
    requests: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None


def closed_loop_latencies(
    profile: Profile,
    users: int,
    prompt_tokens: int,
    output_tokens: int,
    duration_s: float = 60.0,
    warmup_s: float = 20.0,
    ramp_s: float = 10.0,
) -> LoopLatencies:
    """`closed_loop`'s run, with TTFT and ITL percentiles (what an SLO is written against)."""
    tally, _ = _run(profile, users, prompt_tokens, output_tokens, duration_s, warmup_s, ramp_s)
    ttft, itl = sorted(tally.ttft_ns), sorted(tally.itl_ns)
    return LoopLatencies(
        users=users,
        output_tok_s=tally.tokens / duration_s,
        req_s=tally.requests / duration_s,
        requests=tally.requests,
        ttft_p50_ms=_rank_ms(ttft, 50),
        ttft_p95_ms=_rank_ms(ttft, 95),
        ttft_p99_ms=_rank_ms(ttft, 99),
        itl_p50_ms=_rank_ms(itl, 50),
        itl_p99_ms=_rank_ms(itl, 99),
    )


def _rank_ms(ordered: list[int], q: float) -> float | None:
    value = nearest_rank(ordered, q)
    return None if value is None else value / 1e6


def _run(
    profile: Profile,
    users: int,
    prompt_tokens: int,
    output_tokens: int,
    duration_s: float,
    warmup_s: float,
    ramp_s: float,
) -> tuple[_Tally, int]:
    """The closed loop in virtual time: the window's tally, and the engine's preemptions."""
    engine = make_engine(profile)
    overhead_ns = int(profile.request_overhead_ms * 1e6)
    start_ns, end_ns = int(warmup_s * 1e9), int((warmup_s + duration_s) * 1e9)
    gap_ns = int(ramp_s * 1e9 / users)
    # (ready_ns, tie, arrival_ns): requests on their way into the engine queue
    pending = [(u * gap_ns + overhead_ns, u, u * gap_ns) for u in range(users)]
    running: dict[Sequence, tuple[int, list[int]]] = {}  # sequence -> arrival_ns, token times
    tally, now, tie = _Tally(), 0, users
    while now < end_ns:
        while pending and pending[0][0] <= now:
            _, _, arrival = heapq.heappop(pending)
            seq = Sequence(prompt_tokens, output_tokens)
            engine.submit(seq)
            running[seq] = (arrival, [])
        step = engine.plan_step(now)
        if step is None:
            now = pending[0][0]
            continue
        now += int(step.duration_ms * 1e6)
        engine.finish_step(step, now - int(step.duration_ms * 1e6), now)
        for seq in step.running:
            if seq in running and seq.tokens_out > len(running[seq][1]):
                running[seq][1].append(now)
        for seq in [s for s in step.running if s.state == "finished"]:
            arrival, token_ns = running.pop(seq)
            if start_ns <= now <= end_ns:
                tally.tokens += seq.tokens_out
                tally.requests += 1
                first = seq.first_token_ns or now
                tally.ttft_sum_ns += first - arrival
                tally.ttft_ns.append(first - arrival)
                tally.itl_ns += [b - a for a, b in itertools.pairwise(token_ns)]
            tie += 1
            heapq.heappush(pending, (now + overhead_ns, tie, now))
    return tally, engine.preemptions_total


def time_scaled(profile: Profile, scale: float) -> Profile:
    """The profile as `loadgen sim --time-scale S` runs it: every duration S times as long, so
    at N users each latency is S times the profile's and the capacity for an objective scaled
    by S is the same number of users (the windows scaled alike)."""
    return dataclasses.replace(
        profile,
        step_base_ms=profile.step_base_ms * scale,
        step_per_seq_ms=profile.step_per_seq_ms * scale,
        prefill_per_token_ms=profile.prefill_per_token_ms * scale,
        request_overhead_ms=profile.request_overhead_ms * scale,
    )


def true_capacity(
    profile: Profile,
    holds: Callable[[LoopLatencies], bool],
    prompt_tokens: int,
    output_tokens: int,
    max_users: int = 512,
    duration_s: float = 120.0,
) -> int:
    """The most closed-loop users whose steady figures hold `holds` (0: not even one user):
    doubling from 1 user to the first that breaks, then bisection to one user."""

    def ok(users: int) -> bool:
        warmup_s = duration_s / 2
        run = closed_loop_latencies(
            profile, users, prompt_tokens, output_tokens, duration_s, warmup_s, warmup_s / 2
        )
        return holds(run)

    low, high = 0, 1
    while high <= max_users and ok(high):
        low, high = high, high * 2
    if high > max_users:  # every doubling up to the maximum held
        if ok(max_users):
            return max_users
        high = max_users
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if ok(middle) else (low, middle)
    return low
