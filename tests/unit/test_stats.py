"""Exact percentiles, and per-level samples over every worker's records without loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loadgen.levels import Level, samples_in_window
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples, nearest_rank, percentile
from tests.unit.test_timing import MS, record


def test_percentile_is_exact_on_raw_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def _records(n: int, offset_ms: int = 0) -> list[RequestRecord]:
    """n requests with TTFT 1..n ms, finishing at distinct times (wall clock = monotonic)."""
    out: list[RequestRecord] = []
    for i in range(n):
        send = (offset_ms + 10 * i) * MS
        frames = (send + (i + 1) * MS, send + (i + 3) * MS)
        out.append(
            record(
                seq=i,
                t_sched_ns=None,
                wall_send_unix_ns=send,
                t_send_ns=send,
                t_first_ns=frames[0],
                t_first_output_ns=frames[0],
                t_last_ns=frames[1],
                frame_times_ns=frames,
                t_end_ns=frames[1],
                n_out=2,
                n_in=5,
                n_in_source="usage",
            )
        )
    return out


def _level(start_ns: int, end_ns: int) -> Level:
    return Level(0, 1, start_ns, ramp_done_unix_ns=start_ns, end_unix_ns=end_ns)


def test_samples_count_window_and_errors() -> None:
    recs = _records(10)
    recs[3] = record(ok=False, error_type="stall", t_send_ns=0, t_end_ns=35 * MS)
    inside = samples_in_window(recs, _level(0, 10_000 * MS))
    assert inside.requests == 10 and inside.errors == 1
    assert inside.errors_by_type == {"stall": 1}
    assert inside.output_tokens == 18 and inside.input_tokens == 45
    assert len(inside.values["ttft_ms"]) == 9  # failed request has no latency sample
    assert len(inside.values["itl_ms"]) == 9
    assert len(inside.values["ttft_sched_ms"]) == 0  # closed loop
    # window [0, 50 ms): requests ending at 3, 14, 25, 36, 47 ms (the failed one at 35 ms)
    early = samples_in_window(recs, _level(0, 50 * MS))
    assert early.requests == 5 and early.errors == 1


def _samples_of(records: list[RequestRecord]) -> LevelSamples:
    samples = LevelSamples()
    for r in records:
        samples.add(r)
    return samples


def test_samples_of_every_workers_records_are_exact() -> None:
    recs = _records(40)
    # worker b's records reach the master as JSON (Shipper -> Collector.add_shipped)
    shipped = [RequestRecord.from_dict(json.loads(json.dumps(r.to_dict()))) for r in recs[13:]]
    merged = _samples_of(recs[:13] + shipped)
    whole = _samples_of(recs)
    assert merged.requests == whole.requests and merged.output_tokens == whole.output_tokens
    for name in ("ttft_ms", "itl_ms", "e2e_ms"):
        assert sorted(merged.values[name]) == sorted(whole.values[name])
        assert merged.percentile(name, 99) == whole.percentile(name, 99)
    # an average of per-worker p99s would be wrong; the level's matches numpy on all values
    per_worker = [_samples_of(recs[:13]), _samples_of(recs[13:])]
    averaged = sum(s.percentile("ttft_ms", 99) or 0.0 for s in per_worker) / 2
    expected = float(np.percentile([float(i + 1) for i in range(40)], 99))
    assert merged.percentile("ttft_ms", 99) == pytest.approx(expected)
    assert averaged != pytest.approx(expected)


def test_nearest_rank_returns_a_value_the_data_holds() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 50) == 20.0  # rank ceil(0.5 * 4) = 2
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 95) == 40.0
    assert nearest_rank([7.0], 1) == 7.0
