"""The reader's tick follows the gap between one stream's frames: a quarter of it, at most
TICK_MAX_S, at least TICK_MIN_S (frames closer than that share a read), none before any answer
has ended."""

from __future__ import annotations

import pytest

from loadgen.swarm.body_reader import KERNEL_STAMPS, TICK_MAX_S, TICK_MIN_S, BodyReader

_MS = 1_000_000


@pytest.mark.skipif(not KERNEL_STAMPS, reason="the tick needs kernel receive stamps")
def test_the_tick_is_a_quarter_of_the_running_gap_within_its_bounds() -> None:
    reader = BodyReader()
    assert reader.tick_s == 0.0  # no answer yet: every batch read at once
    reader.note_gap(0, 14 * 255 * _MS, 256)  # 71 tok/s: a 14 ms gap
    assert reader.tick_s == pytest.approx(0.0035)
    reader.note_gap(0, 100 * _MS, 1)  # one frame: no gap to learn from
    assert reader.tick_s == pytest.approx(0.0035)
    for _ in range(60):  # 20 tok/s for a while: 50 ms gaps, the tick capped
        reader.note_gap(0, 50 * 99 * _MS, 100)
    assert reader.tick_s == TICK_MAX_S
    for _ in range(60):  # a fast engine: 1 ms gaps, a quarter of them is under the floor
        reader.note_gap(0, 255 * _MS, 256)
    assert reader.tick_s == TICK_MIN_S
