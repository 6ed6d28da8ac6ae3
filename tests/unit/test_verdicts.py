"""What a finished run concludes (pure): the error gate, a level without a success, an engine
that stopped answering (the rule over records and its line), and the table's gate header."""

from __future__ import annotations

from dataclasses import replace

from loadgen.level_summary import LevelSummary, summarize_level
from loadgen.levels import Level
from loadgen.records import RequestRecord
from loadgen.run.verdicts import (
    error_gate_verdict,
    no_success_verdict,
    run_verdict,
    unreachable_verdict,
)
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table
from loadgen.unreachable import engine_unreachable

S = 1_000_000_000
T0 = 1_760_000_000 * S


def _level(requests: int, errors_by_type: dict[str, int], index: int = 0) -> LevelSummary:
    samples = LevelSamples(requests=requests, errors_by_type=dict(errors_by_type))
    summary = summarize_level(samples, Level(index, 2, T0, T0, T0 + 10 * S))
    assert summary is not None
    return summary


def _run(*levels: LevelSummary, unreachable_unix_ns: int | None = None) -> RunSummary:
    return RunSummary(
        "r",
        levels,
        RunMeta("r", start_unix_ns=T0),
        engine_unreachable_unix_ns=unreachable_unix_ns,
        engine_unreachable_errors=42 if unreachable_unix_ns else 0,
    )


def test_error_gate_fails_a_level_above_the_rate_and_1_turns_it_off() -> None:
    run = _run(_level(100, {"timeout": 2}), _level(100, {"http_status": 6, "stall": 1}, 1))
    verdict = error_gate_verdict(run, 0.05)
    assert verdict.code == 1
    assert verdict.lines == [
        "error gate error_rate<=0.05 breached at level 1 (2 users): error_rate = 0.07, 7 of 100"
        " requests failed (most common error http_status x6); see --max-error-rate"
    ]
    assert error_gate_verdict(run, 0.07).code == 0  # at the limit is within it
    assert error_gate_verdict(run, 1.0).code == 0 and error_gate_verdict(run, None).code == 0


def test_a_level_without_a_success_fails_even_with_the_gate_off() -> None:
    dead = replace(
        _level(40, {"http_status": 30, "connect": 10}),
        error_samples={"http_status": "HTTP 500:  internal\n error", "connect": "refused"},
    )
    run = _run(_level(10, {}, 1), dead)
    for verdict in (no_success_verdict(run), run_verdict(run, [], 1.0)):
        assert verdict.code == 1
        assert verdict.lines == [
            "loadgen: no request succeeded at level 0 (2 users): 40 of 40 failed; most common"
            " error http_status x30: HTTP 500: internal error"
        ]
    # the gate says nothing more about that level: one line per cause
    assert run_verdict(run, [], 0.05).lines == no_success_verdict(run).lines
    assert no_success_verdict(_run(_level(0, {}))).code == 0  # nothing finished: no verdict


def test_the_unreachable_line_names_the_time_and_the_count() -> None:
    verdict = unreachable_verdict(_run(_level(10, {}), unreachable_unix_ns=T0 + 12_500_000_000))
    assert verdict.code == 1
    assert verdict.lines == [
        "loadgen: the engine became unreachable at 2025-10-09T08:53:32.500Z (12.5 s into the"
        " run): 42 connect errors from then on, no request succeeded after it"
    ]
    assert unreachable_verdict(_run(_level(10, {}))).code == 0


def _record(seq: int, end_s: float, error_type: str | None = None) -> RequestRecord:
    send = T0 + seq * S // 100
    return RequestRecord(
        *("r", "openai", "m", "Chat", "w:1", 0, 2, seq),
        wall_send_unix_ns=send,
        t_send_ns=send,
        t_end_ns=T0 + int(end_s * S),
        ok=error_type is None,
        error_type=error_type,  # type: ignore[arg-type]
    )


def test_unreachable_is_a_tail_of_connect_errors_after_the_last_success() -> None:
    ok = [_record(i, 1.0 + i) for i in range(3)]
    died = [_record(10, 3.5, "truncated"), *(_record(11 + i, 4.0 + i, "connect") for i in range(4))]
    cut_off = [_record(20, 9.0, "truncated")]  # in flight when the run stopped
    found = engine_unreachable([*died, *cut_off, *ok])  # any order
    assert found is not None
    assert found.since_unix_ns == T0 + 4 * S and found.connect_errors == 4
    assert engine_unreachable(ok) is None
    assert engine_unreachable([*ok, *died[:3]]) is None  # two connect errors: a blip
    assert engine_unreachable([*died, _record(30, 20.0)]) is None  # it answered again
    assert engine_unreachable([*died, _record(31, 20.0, "http_status")]) is None  # it answers
    assert engine_unreachable([]) is None


def test_the_table_shows_the_error_rate_and_the_gate() -> None:
    run = _run(_level(200, {"timeout": 5}))
    header, row = format_table(run, 0.05).splitlines()
    assert "error % <=5" in header and "2.5" in row.split()
    assert "error %  " in format_table(run, 1.0) and "<=" not in format_table(run)
