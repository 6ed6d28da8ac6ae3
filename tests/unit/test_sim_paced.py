"""The per-stream token clock (sim/paced.py) driven by hand: no loop, no sockets, exact times."""

from __future__ import annotations

import dataclasses

from loadgen.sim.engine import Sequence, make_engine
from loadgen.sim.paced import PacedScheduler
from loadgen.sim.profiles import load_profile

MS = 1_000_000


def _paced(tok_s: float = 100.0, **changes: int) -> PacedScheduler:
    profile = dataclasses.replace(load_profile("paced"), stream_tok_s=tok_s, **changes)
    return PacedScheduler(make_engine(profile), tok_s)


def _submit(sched: PacedScheduler, now_ns: int, n_out: int) -> Sequence:
    seq = Sequence(tokens_in=8, tokens_target=n_out)
    assert sched.engine.submit(seq)
    sched._admit(now_ns)  # what notify() does at the current time
    return seq


def test_each_stream_keeps_its_own_clock() -> None:
    sched = _paced(100.0)  # one token per 10 ms per stream
    a = _submit(sched, 0, 5)
    b = _submit(sched, 3 * MS, 5)  # admitted 3 ms later: its tokens stay 3 ms behind a's
    assert a.admitted_ns == 0 and b.admitted_ns == 3 * MS
    assert sched.emit_due(9 * MS) == 0
    assert sched.emit_due(10 * MS) == 1 and (a.tokens_out, b.tokens_out) == (1, 0)
    assert sched.emit_due(13 * MS) == 1 and (a.tokens_out, b.tokens_out) == (1, 1)
    assert a.first_token_ns == 10 * MS and a.prefill_ns == 10 * MS


def test_a_late_wake_up_catches_up_without_drift() -> None:
    sched = _paced(100.0)
    seq = _submit(sched, 0, 10)
    assert sched.emit_due(35 * MS) == 3  # tokens due at 10, 20 and 30 ms, all late
    assert seq.tokens_out == 3 and sched.timing.late_max_ns == 25 * MS
    assert sched.emit_due(39 * MS) == 0 and sched.emit_due(40 * MS) == 1  # back on its clock


def test_more_streams_do_not_slow_any_stream() -> None:
    sched = _paced(50.0)  # 20 ms
    seqs = [_submit(sched, i * 10_000, 4) for i in range(1000)]
    for k in range(1, 5):
        sched.emit_due(k * 20 * MS + 1000 * 10_000)
        assert all(s.tokens_out == k for s in seqs)
    assert all(s.state == "finished" for s in seqs) and not sched.engine.running


def test_cancelled_streams_stop_and_bounded_slots_admit_the_next() -> None:
    sched = _paced(100.0, max_running=1)
    first = _submit(sched, 0, 2)
    second = _submit(sched, 0, 2)
    assert second.state == "waiting"
    sched.engine.cancel(first)
    sched._admit(5 * MS)
    assert second.state == "running" and second.admitted_ns == 5 * MS
    assert sched.emit_due(10 * MS) == 0  # first's clock stopped with it
    assert sched.emit_due(25 * MS) == 2 and second.state == "finished"


def test_a_stream_gets_no_deadline_past_its_last_token() -> None:
    sched = _paced(100.0)
    seq = _submit(sched, 0, 2)
    assert sched.emit_due(95 * MS) == 2  # 9 intervals late: only the 2 tokens it has
    assert seq.state == "finished" and sched.timing.steps == 2 and not sched._due
