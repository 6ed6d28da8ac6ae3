"""Per-request metrics from raw timestamps (fake clock, ns)."""

from __future__ import annotations

import dataclasses

import pytest

from loadgen import timing
from loadgen.records import OllamaTimings, RequestRecord

MS = 1_000_000


def record(**overrides: object) -> RequestRecord:
    """A successful streamed request: sent at 1000 ms, tokens at 1100, 1120, 1150, 1200 ms."""
    frames = (1100 * MS, 1120 * MS, 1150 * MS, 1200 * MS)
    base = RequestRecord(
        run_id="r",
        api="openai",
        model="m",
        user_class="ChatUser",
        worker="w0",
        stage_index=0,
        stage_users=1,
        seq=0,
        wall_send_unix_ns=0,
        t_sched_ns=900 * MS,
        t_send_ns=1000 * MS,
        t_end_ns=1205 * MS,
        t_first_ns=frames[0],
        t_first_output_ns=frames[1],
        t_last_ns=frames[-1],
        frame_times_ns=frames,
        n_out=4,
        n_out_source="usage",
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def test_stream_metrics() -> None:
    r = record()
    assert timing.ttft_ms(r) == 100.0
    assert timing.ttft_sched_ms(r) == 200.0  # includes 100 ms of waiting to be sent
    assert timing.ttfo_ms(r) == 120.0
    assert timing.itl_ms(r) == [20.0, 30.0, 50.0]
    assert timing.tpot_ms(r) == pytest.approx(100.0 / 3)
    assert timing.e2e_ms(r) == 200.0


def test_tpot_uses_server_token_count_not_frames() -> None:
    assert timing.tpot_ms(record(n_out=11)) == 10.0


def test_undefined_metrics_are_none() -> None:
    r = record(
        t_sched_ns=None,
        t_first_ns=None,
        t_first_output_ns=None,
        t_last_ns=None,
        frame_times_ns=(),
        n_out=0,
    )
    assert timing.ttft_ms(r) is None
    assert timing.ttft_sched_ms(r) is None
    assert timing.ttfo_ms(r) is None
    assert timing.itl_ms(r) == []
    assert timing.tpot_ms(r) is None
    assert timing.e2e_ms(r) == 205.0  # no token: t_end
    assert timing.tpot_ms(record(n_out=1)) is None
    assert timing.ollama_breakdown_ms(r) is None


def test_failed_request_e2e_uses_t_end() -> None:
    assert timing.e2e_ms(record(ok=False, error_type="truncated", t_end_ns=1500 * MS)) == 500.0


def test_ollama_breakdown() -> None:
    r = record(
        api="ollama",
        t_end_ns=1250 * MS,  # the done frame
        ollama=OllamaTimings(
            total_duration_ns=240 * MS,
            load_duration_ns=5 * MS,
            prompt_eval_count=26,
            prompt_eval_duration_ns=35 * MS,
            eval_count=4,
            eval_duration_ns=150 * MS,
        ),
    )
    b = timing.ollama_breakdown_ms(r)
    assert b is not None
    assert (b.queue_ms, b.load_ms, b.prefill_ms, b.decode_ms) == (50.0, 5.0, 35.0, 150.0)
    assert b.network_client_ms == 10.0  # 250 ms seen by the client − 240 ms on the server
