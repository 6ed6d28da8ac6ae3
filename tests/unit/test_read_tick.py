"""The reader's tick follows the gap between one stream's frames: a quarter of it, at most
TICK_MAX_S, at least the ITL resolution (--itl-resolution: frames closer than that share a
read); before any answer has ended, the resolution itself (tests/integration/
test_swarm_transport.py)."""

from __future__ import annotations

import pytest

from loadgen.flags import ITL_RESOLUTION_S
from loadgen.swarm.body_reader import KERNEL_STAMPS, TICK_MAX_S, BodyReader

_MS = 1_000_000


@pytest.mark.skipif(not KERNEL_STAMPS, reason="the tick needs kernel receive stamps")
def test_the_tick_is_a_quarter_of_the_running_gap_within_its_bounds() -> None:
    reader = BodyReader()
    res = ITL_RESOLUTION_S
    assert reader.tick_s == 0.0  # nothing exchanged yet
    reader.note_gap(0, 14 * 255 * _MS, 256, res)  # 71 tok/s: a 14 ms gap
    assert reader.tick_s == pytest.approx(0.0035)
    reader.note_gap(0, 100 * _MS, 1, res)  # one frame: no gap to learn from
    assert reader.tick_s == pytest.approx(0.0035)
    for _ in range(60):  # 20 tok/s for a while: 50 ms gaps, the tick capped
        reader.note_gap(0, 50 * 99 * _MS, 100, res)
    assert reader.tick_s == TICK_MAX_S
    for _ in range(60):  # a fast engine: 1 ms gaps, a quarter of them is under the floor
        reader.note_gap(0, 255 * _MS, 256, res)
    assert reader.tick_s == ITL_RESOLUTION_S == 0.002


@pytest.mark.skipif(not KERNEL_STAMPS, reason="the tick needs kernel receive stamps")
def test_the_resolution_is_the_floor_and_may_lift_the_cap() -> None:
    reader = BodyReader()
    for _ in range(60):  # 1 ms gaps: a finer resolution lets the tick follow them down to it
        reader.note_gap(0, 255 * _MS, 256, 0.001)
    assert reader.tick_s == 0.001
    for _ in range(60):  # 50 ms gaps: a resolution above TICK_MAX_S is the tick
        reader.note_gap(0, 50 * 99 * _MS, 100, 0.010)
    assert reader.tick_s == 0.010
