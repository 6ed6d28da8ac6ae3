"""Fuzzing the one number rule: any text or float given to any numeric flag of any command either
becomes a finite value inside the flag's range or is a LoadgenError, never another exception."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.cli.replay import BATCH_POINTS
from loadgen.cli.sidecar import DURATION, INTERVAL, PID
from loadgen.cli.sim import PORT, SEED, STREAM_TOK_S, TIME_SCALE
from loadgen.cli.worker import MASTER_PORT, PROCESSES
from loadgen.errors import LoadgenError
from loadgen.flags import FLAGS, Flag, parse_duration_s
from loadgen.slo import parse_slo

NUMERIC = [f for f in FLAGS if f.kind in ("int", "float", "duration")]
NUMERIC += [
    PORT,
    SEED,
    TIME_SCALE,
    STREAM_TOK_S,
    INTERVAL,
    DURATION,
    PID,
    MASTER_PORT,
    PROCESSES,
    BATCH_POINTS,
]
TEXT = st.one_of(
    st.text(max_size=12),
    st.floats().map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0x10", "1_000", " 5 ", "5s", "1m30s"]),
)


def in_range(flag: Flag, value: object) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool)
    assert math.isfinite(value)
    if flag.min is not None:
        assert value > flag.min if flag.min_open else value >= flag.min
    if flag.max is not None:
        assert value <= flag.max


@pytest.mark.parametrize("flag", NUMERIC, ids=lambda f: f"{sorted(f.commands)[0]}{f.option}")
@settings(max_examples=60, deadline=None)
@given(text=TEXT, number=st.floats())
def test_a_number_is_finite_and_in_range_or_bad_input(flag: Flag, text: str, number: float) -> None:
    for raw in (text, number):
        if flag.kind != "float" and isinstance(raw, float):
            raw = repr(raw)  # int and duration flags arrive as text
        try:
            value = flag.typed(raw)
        except LoadgenError as exc:
            assert "\n" not in str(exc)
            continue
        in_range(flag, value)


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_a_duration_is_finite_seconds_or_bad_input(text: str) -> None:
    try:
        seconds = parse_duration_s(text)
    except LoadgenError:
        return
    assert math.isfinite(seconds) and seconds >= 0


@settings(max_examples=200, deadline=None)
@given(threshold=TEXT)
def test_an_slo_threshold_is_finite_or_bad_input(threshold: str) -> None:
    try:
        slo = parse_slo(f"ttft_p95_ms<={threshold}")
    except LoadgenError:
        return
    assert math.isfinite(slo.threshold)
