"""When a level has settled, and when it has measured enough: pure rules over per-interval figures.

A level is steady from the first of `SteadyRule.intervals` intervals in a row whose output tok/s
and requests in flight each stay within a tolerance of their mean over those intervals. In
flight is the engine's own running + waiting when its /metrics gave them, else the client's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loadgen import timing
from loadgen.records import EngineSample, RequestRecord, SidecarSample

NS_PER_S = 1_000_000_000
WINDOW_E2E_FACTOR = 3.0  # a window shorter than this many median E2Es undercounts output tok/s


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of a level, [start, end) in wall unix ns."""

    start_unix_ns: int
    end_unix_ns: int
    finished: int  # successful requests that ended inside
    output_tokens: int  # theirs
    in_flight: float | None  # mean requests in flight over the interval (None: unknown)

    @property
    def length_s(self) -> float:
        return (self.end_unix_ns - self.start_unix_ns) / NS_PER_S

    @property
    def output_tok_s(self) -> float:
        return self.output_tokens / self.length_s if self.length_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SteadyRule:
    """Settled: `intervals` in a row, each within `tolerance` (relative) of their mean.

    Output tok/s also allows one standard deviation of counting noise (1/sqrt(finished
    requests per interval)): a few finishes per interval cannot show a trend. In flight also
    allows `in_flight_slack` requests, so 1 or 2 users are not judged on a single request."""

    intervals: int = 3
    tolerance: float = 0.2
    in_flight_slack: float = 1.0


DEFAULT_RULE = SteadyRule()


@dataclass(frozen=True, slots=True)
class Steadiness:
    """The verdict: steady from `start_unix_ns` (None when it never settled), and why."""

    steady: bool
    start_unix_ns: int | None
    reason: str  # one line


def _spread(values: Sequence[float]) -> float:
    """The largest deviation from the mean, relative to the mean (0 for all zeros)."""
    mean = statistics.fmean(values)
    worst = max(abs(v - mean) for v in values)
    return worst / mean if mean > 0 else (0.0 if worst == 0 else math.inf)


def _allowed_tok(run: Sequence[Interval], rule: SteadyRule) -> float:
    finished = statistics.fmean(i.finished for i in run)
    return rule.tolerance + (1 / math.sqrt(finished) if finished > 0 else math.inf)


def _allowed_flight(run: Sequence[Interval], rule: SteadyRule) -> float:
    mean = statistics.fmean(i.in_flight or 0.0 for i in run)
    return rule.tolerance + (rule.in_flight_slack / mean if mean > 0 else math.inf)


def _judge(run: Sequence[Interval], rule: SteadyRule) -> tuple[bool, str]:
    """Whether `run` is steady, and the figures that say so (or the worst that does not)."""
    tok, tok_ok = _spread([i.output_tok_s for i in run]), _allowed_tok(run, rule)
    text = f"output tok/s within ±{_pct(tok)} (allowed ±{_pct(tok_ok)})"
    if any(i.in_flight is None for i in run):
        return tok <= tok_ok, text
    flight, flight_ok = _spread([i.in_flight or 0.0 for i in run]), _allowed_flight(run, rule)
    text += f", in flight within ±{_pct(flight)} (allowed ±{_pct(flight_ok)})"
    return tok <= tok_ok and flight <= flight_ok, text


def _pct(ratio: float) -> str:
    return "inf %" if math.isinf(ratio) else f"{100 * ratio:.0f} %"


def rolled(intervals: Sequence[Interval], span: int) -> list[Interval]:
    """Each interval from the `span`-th on, with the finishes and output tokens of the `span`
    intervals ending with it (over their length): throughput rolled over about one request's
    duration, so requests that finish in waves do not read as a level that never settles."""
    out = []
    for j in range(max(span, 1) - 1, len(intervals)):
        part = intervals[j - max(span, 1) + 1 : j + 1]
        out.append(
            Interval(
                part[0].start_unix_ns,
                part[-1].end_unix_ns,
                sum(i.finished for i in part),
                sum(i.output_tokens for i in part),
                part[-1].in_flight,
            )
        )
    return out


def settle(
    intervals: Sequence[Interval],
    rule: SteadyRule = DEFAULT_RULE,
    source: str = "client",
    span: int = 1,
) -> Steadiness:
    """The first run of `rule.intervals` consecutive intervals that is steady, throughput rolled
    over `span` intervals (`rolled`): the level is steady from the start of the run's first
    interval. `source` names where in flight came from."""
    k, span = rule.intervals, max(span, 1)
    judged = rolled(intervals, span)
    length = f" of {intervals[0].length_s:g} s" if intervals else ""
    roll = f", tok/s rolled over {span} intervals" if span > 1 else ""
    if len(judged) < k:
        return Steadiness(
            False,
            None,
            f"not settled: {len(intervals)} interval(s){length} to judge, {k + span - 1} needed",
        )
    text = ""
    for first in range(len(judged) - k + 1):
        ok, text = _judge(judged[first : first + k], rule)
        if ok:
            start = intervals[first + span - 1].start_unix_ns
            reason = f"settled over {k} intervals{length}{roll}: {text} ({source} in flight)"
            return Steadiness(True, start, reason)
    reason = f"not settled: last {k} intervals{length}{roll}: {text} ({source} in flight)"
    return Steadiness(False, None, reason)


def _overlap_ns(a: int, b: int, start: int, end: int) -> int:
    return max(0, min(b, end) - max(a, start))


def intervals_of(
    records: Iterable[RequestRecord],
    start_unix_ns: int,
    end_unix_ns: int,
    interval_s: float,
    engine_in_flight: Sequence[tuple[int, float]] = (),
) -> tuple[list[Interval], str]:
    """The complete intervals of `interval_s` from `start_unix_ns` up to `end_unix_ns`, and
    where in flight came from: "engine" (the mean of its samples, (wall unix ns, running +
    waiting), when every interval has one), else "client" (the records' own overlap)."""
    step = int(interval_s * NS_PER_S)
    if step <= 0:
        return [], "client"
    count = (end_unix_ns - start_unix_ns) // step
    bounds = [(start_unix_ns + j * step, start_unix_ns + (j + 1) * step) for j in range(count)]
    # One pass over the records (a level can hold tens of thousands, judged every interval):
    # each one counts where it ended and adds its overlap to the few intervals it spans.
    done, tokens, overlap_ns = [0] * count, [0] * count, [0] * count
    for r in records:
        send = r.wall_send_unix_ns
        end = send + (r.t_end_ns - r.t_send_ns)
        ended_in = (end - start_unix_ns) // step  # the interval it ended in (< 0: before)
        if r.ok and 0 <= ended_in < count:
            done[ended_in] += 1
            tokens[ended_in] += r.n_out
        for j in range(max(0, (send - start_unix_ns) // step), min(count - 1, ended_in) + 1):
            a, b = bounds[j]
            overlap_ns[j] += _overlap_ns(send, end, a, b)
    engine = [_mean_in(engine_in_flight, a, b) for a, b in bounds]
    use_engine = bool(bounds) and all(v is not None for v in engine)
    out = [
        Interval(a, b, done[j], tokens[j], engine[j] if use_engine else overlap_ns[j] / (b - a))
        for j, (a, b) in enumerate(bounds)
    ]
    return out, "engine" if use_engine else "client"


def _mean_in(samples: Sequence[tuple[int, float]], start: int, end: int) -> float | None:
    values = [v for t, v in samples if start <= t < end]
    return statistics.fmean(values) if values else None


def measured_enough(
    finished: int,
    window_s: float,
    e2e_p50_s: float | None,
    min_requests: int,
    e2e_factor: float,
) -> bool:
    """An auto level is done once its steady window holds `min_requests` finished requests and
    spans `e2e_factor` times their median E2E."""
    return finished >= min_requests and e2e_p50_s is not None and window_s >= e2e_factor * e2e_p50_s


def engine_in_flight(samples: Iterable[SidecarSample]) -> list[tuple[int, float]]:
    """(wall unix ns, running + waiting) of every engine sample that has them (vLLM /metrics)."""
    return [
        (s.wall_unix_ns, s.requests_running + (s.requests_waiting or 0.0))
        for s in samples
        if isinstance(s, EngineSample) and s.requests_running is not None
    ]


def judge(
    records: Sequence[RequestRecord],
    floor_unix_ns: int,
    until_unix_ns: int,
    interval_s: float,
    engine: Sequence[tuple[int, float]] = (),
    rule: SteadyRule = DEFAULT_RULE,
) -> Steadiness:
    """A level's verdict over its complete intervals from `floor_unix_ns` (users running,
    warmup over) to `until_unix_ns` (its end, or now), throughput rolled over the median E2E
    of the requests that finished in them."""
    intervals, source = intervals_of(records, floor_unix_ns, until_unix_ns, interval_s, engine)
    e2e_s = [
        timing.e2e_ms(r) / 1000
        for r in records
        if r.ok and floor_unix_ns <= _end(r) < until_unix_ns
    ]
    span = math.ceil(statistics.median(e2e_s) / interval_s) if e2e_s else 1
    return settle(intervals, rule, source, span)


def window_enough(
    records: Iterable[RequestRecord],
    start_unix_ns: int,
    end_unix_ns: int,
    min_requests: int,
    e2e_factor: float = WINDOW_E2E_FACTOR,
) -> bool:
    """An auto level is done once its steady window [start, end) holds `min_requests` finished
    successful requests and spans `e2e_factor` times their median E2E."""
    e2e_s = [
        timing.e2e_ms(r) / 1000 for r in records if r.ok and start_unix_ns <= _end(r) < end_unix_ns
    ]
    window_s = (end_unix_ns - start_unix_ns) / NS_PER_S
    median = statistics.median(e2e_s) if e2e_s else None
    return measured_enough(len(e2e_s), window_s, median, min_requests, e2e_factor)


def _end(record: RequestRecord) -> int:
    return record.wall_send_unix_ns + (record.t_end_ns - record.t_send_ns)
