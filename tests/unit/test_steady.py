"""When a level has settled: the steady rule on constructed per-interval series, intervals built
from request records and engine samples, and when an auto level has measured enough."""

from __future__ import annotations

import dataclasses
import random

from loadgen.levels import Level
from loadgen.records import EngineSample, RequestRecord
from loadgen.steady import (
    Interval,
    engine_in_flight,
    intervals_of,
    judge,
    settle,
    window_enough,
)
from tests.unit.test_timing import record

S = 1_000_000_000


def series(
    tok_s: list[float], in_flight: list[float | None], finished: int = 100
) -> list[Interval]:
    """Intervals of 5 s from t=0: output tok/s and in flight as given, `finished` requests each."""
    return [
        Interval(i * 5 * S, (i + 1) * 5 * S, finished, int(tok * 5), flight)
        for i, (tok, flight) in enumerate(zip(tok_s, in_flight, strict=True))
    ]


def test_a_ramp_then_a_plateau_settles_where_the_plateau_starts() -> None:
    tok = [100.0, 300.0, 500.0, 900.0, 910.0, 890.0, 905.0]
    verdict = settle(series(tok, [50.0] * 7))
    assert verdict.steady and verdict.start_unix_ns == 3 * 5 * S
    assert verdict.reason.startswith("settled over 3 intervals of 5 s")
    assert "client in flight" in verdict.reason


def test_a_level_that_keeps_climbing_never_settles_and_says_why() -> None:
    verdict = settle(series([100.0 * 1.5**i for i in range(8)], [50.0] * 8))
    assert not verdict.steady and verdict.start_unix_ns is None
    assert verdict.reason.startswith("not settled: last 3 intervals of 5 s: output tok/s within ±")


def test_in_flight_that_still_grows_holds_the_window_back() -> None:
    """A queue still filling (the engine's waiting requests) while throughput is flat."""
    flight = [10.0, 15.0, 25.0, 30.0, 50.0, 50.0, 51.0, 50.0]
    verdict = settle(series([900.0] * 8, flight), source="engine")
    assert verdict.steady and verdict.start_unix_ns == 4 * 5 * S
    assert "in flight within ±" in verdict.reason and "(engine in flight)" in verdict.reason


def test_too_few_intervals_to_judge() -> None:
    verdict = settle(series([900.0, 900.0], [5.0, 5.0]))
    assert not verdict.steady
    assert verdict.reason == "not settled: 2 interval(s) of 5 s to judge, 3 needed"


def test_few_finishes_per_interval_allow_counting_noise() -> None:
    """2 requests per interval: 1 or 3 is noise, not a trend (1/sqrt(2) allowed beyond 20 %)."""
    tok = [200.0, 300.0, 100.0, 200.0]
    assert settle(series(tok, [2.0] * 4, finished=2)).steady
    assert not settle(series(tok, [2.0] * 4, finished=200)).steady


def test_waves_of_finishes_settle_once_rolled_over_one_request() -> None:
    """Requests of 10 s that finish together every other interval: a plateau in waves."""
    tok = [0.0, 1000.0] * 5
    waves = series(tok, [50.0] * 10)
    assert not settle(waves).steady
    verdict = settle(waves, span=2)
    assert verdict.steady and verdict.start_unix_ns == 1 * 5 * S
    assert "tok/s rolled over 2 intervals" in verdict.reason


def _timed(send_s: float, end_s: float, n_out: int = 10, ok: bool = True) -> RequestRecord:
    send, end = int(send_s * S), int(end_s * S)
    frames = (send + 1, end - 1)
    return dataclasses.replace(
        record(),
        wall_send_unix_ns=send,
        t_send_ns=send,
        t_first_ns=frames[0],
        t_first_output_ns=frames[0],
        t_last_ns=frames[1],
        frame_times_ns=frames,
        t_end_ns=end,
        n_out=n_out,
        ok=ok,
    )


def test_intervals_count_finishes_and_the_clients_requests_in_flight() -> None:
    records = [_timed(0.0, 2.0), _timed(1.0, 3.0), _timed(2.5, 4.5, ok=False), _timed(3.0, 9.0)]
    intervals, source = intervals_of(records, 0, 5 * S + 1, 2.5)
    assert source == "client" and len(intervals) == 2  # the incomplete third one is left out
    first, second = intervals
    assert (first.finished, first.output_tokens) == (1, 10)  # the one that failed never counts
    assert (second.finished, second.output_tokens) == (1, 10)
    assert first.in_flight == (2.0 + 1.5) / 2.5  # time-weighted: 2 s and 1.5 s of 2.5 s
    assert second.in_flight == (0.5 + 2.0 + 2.0) / 2.5


def _intervals_by_definition(
    records: list[RequestRecord], start: int, end: int, step: int
) -> list[Interval]:
    """Each interval on its own, straight from the definition: every record checked against it."""
    out = []
    for j in range((end - start) // step):
        a, b = start + j * step, start + (j + 1) * step
        spans = [(r.wall_send_unix_ns, r.wall_send_unix_ns + r.t_end_ns - r.t_send_ns, r)
                 for r in records]  # fmt: skip
        done = [r for send, stop, r in spans if a <= stop < b and r.ok]
        overlap = sum(max(0, min(stop, b) - max(send, a)) for send, stop, _ in spans)
        out.append(Interval(a, b, len(done), sum(r.n_out for r in done), overlap / (b - a)))
    return out


def test_intervals_in_one_pass_equal_each_interval_checked_against_every_record() -> None:
    rng = random.Random(7)
    step = S
    # ends and sends on boundaries, before the start, after the end, long and short requests
    edges = [k * step // 2 for k in range(-4, 26)]
    records = [
        _timed(
            (send := rng.choice(edges) + rng.choice((0, 1, -1)) * rng.randrange(step)) / S,
            (send + rng.choice((0, 1, step // 2, step, 3 * step, 9 * step))) / S,
            n_out=rng.randrange(1, 50),
            ok=rng.random() > 0.2,
        )
        for _ in range(400)
    ]
    for start, end in ((0, 10 * S), (3 * S + 7, 10 * S), (0, 10 * S + 1), (5 * S, 4 * S)):
        intervals, source = intervals_of(records, start, end, 1.0)
        assert source == "client"
        assert intervals == _intervals_by_definition(records, start, end, step)


def test_the_engines_running_and_waiting_win_when_every_interval_has_them() -> None:
    samples = [
        EngineSample(wall_unix_ns=t * S, engine="vllm", requests_running=4.0, requests_waiting=w)
        for t, w in ((1, 6.0), (3, 8.0), (6, 10.0))
    ]
    engine = engine_in_flight(samples)
    intervals, source = intervals_of([_timed(0.0, 1.0)], 0, 10 * S, 5.0, engine)
    assert source == "engine" and [i.in_flight for i in intervals] == [11.0, 14.0]
    _, source = intervals_of([_timed(0.0, 1.0)], 0, 15 * S, 5.0, engine)
    assert source == "client"  # the third interval has no engine sample


def test_judge_starts_from_the_levels_floor() -> None:
    """Users sent back to back, 1 s each: steady from the floor; the window starts there."""
    records = [_timed(t, t + 1.0) for t in range(30)]
    level = Level(0, 1, 0, ramp_done_unix_ns=4 * S, end_unix_ns=30 * S)
    assert level.floor_unix_ns is not None
    verdict = judge(records, level.floor_unix_ns, 30 * S, 5.0)
    assert verdict.steady and verdict.start_unix_ns == 4 * S
    judged = dataclasses.replace(level, steady=True, steady_start_unix_ns=12 * S)
    assert judged.window_start_unix_ns == 12 * S and level.window_start_unix_ns == 4 * S


def test_an_auto_level_needs_min_requests_and_three_median_e2es() -> None:
    quick = [_timed(t, t + 1.0) for t in range(60)]
    assert window_enough(quick, 0, 61 * S, 50)
    assert not window_enough(quick, 0, 61 * S, 70)  # 60 finished
    slow = [_timed(t / 4, t / 4 + 40.0) for t in range(600)]  # 40 s each, 4 per second
    assert not window_enough(slow, 40 * S, 100 * S, 50)  # 60 s < 3 x 40 s
    assert window_enough(slow, 40 * S, 161 * S, 50)
