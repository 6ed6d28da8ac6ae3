"""Ollama's capacity traps from constructed records (loadgen/diagnostics.py)."""

from __future__ import annotations

import json

from loadgen.diagnostics import (
    Diagnostics,
    ModelResidency,
    diagnose,
    is_refused,
    reload_marks,
)
from loadgen.records import OllamaTimings, RequestRecord
from loadgen.slots import TTFT_STAIRCASE, SlotEstimate

BUSY = 'HTTP 503: {"error": "server busy, please try again.  maximum pending requests exceeded"}'
LEVELS = ((0, 1), (1, 4))


def record(
    seq: int, level: int, *, load_ms: float = 5.0, status: int | None = None
) -> RequestRecord:
    failed = status is not None
    return RequestRecord(
        run_id="r",
        api="ollama",
        model="m",
        user_class="Chat",
        worker="w",
        stage_index=level,
        stage_users=dict(LEVELS)[level],
        seq=seq,
        wall_send_unix_ns=1_000_000_000 * (seq + 1),
        t_send_ns=0,
        t_end_ns=1,
        ok=not failed,
        error_type="http_status" if failed else None,
        error_detail=BUSY if status == 503 else ("HTTP 500: boom" if failed else None),
        http_status=status,
        ollama=None if failed else OllamaTimings(10**9, int(load_ms * 1e6), 8, 1, 8, 1),
    )


def test_busy_refusals_are_counted_per_level_and_name_the_setting() -> None:
    records = [record(0, 0), record(1, 1), record(2, 1, status=503), record(3, 1, status=503)]
    records.append(record(4, 1, status=500))  # another error is not a refusal
    found = diagnose(records, LEVELS, None, ollama=True)
    assert [(lv.stage_index, lv.refused) for lv in found.levels] == [(0, 0), (1, 2)]
    assert found.refused == 2
    (line,) = found.lines()
    assert line == (
        "diagnostic: 2 requests refused as busy (HTTP 503, queue full): 2 at level 1 (4 users);"
        " raise OLLAMA_MAX_QUEUE"
    )
    other = diagnose(records, LEVELS, None, ollama=False)
    assert other.findings[0].setting == "" and "OLLAMA" not in other.lines()[0]


def test_a_503_without_busy_is_not_a_refusal() -> None:
    plain = record(0, 0, status=503)
    assert is_refused(plain)
    other = RequestRecord(**{**plain.to_dict(), "error_detail": "HTTP 503: maintenance"})
    assert not is_refused(other)


def test_reloads_after_the_first_request_are_counted_and_marked() -> None:
    records = [
        record(0, 0, load_ms=900.0),  # the first request loads the model: not a reload
        record(1, 0, load_ms=250.0),
        record(2, 0, load_ms=100.0),  # not over 100 ms
        record(3, 1, load_ms=101.0),
        record(4, 1, load_ms=20.0),
    ]
    found = diagnose(list(reversed(records)), LEVELS, None)  # order of arrival does not matter
    assert [lv.reloads for lv in found.levels] == [1, 1] and found.reloads == 2
    (finding,) = found.findings
    assert finding.kind == "model_reload" and finding.setting == "OLLAMA_KEEP_ALIVE"
    assert "2 model reloads (load_duration > 100 ms): 1 at level 0 (1 users), 1 at level 1" in (
        finding.text
    )
    assert reload_marks(records) == [
        (2_000_000_000, "model reload: load_duration 250 ms (level 0)"),
        (4_000_000_000, "model reload: load_duration 101 ms (level 1)"),
    ]


def test_partial_offload_warns_with_the_fraction_on_the_gpu() -> None:
    readings = [
        ModelResidency(0, 0),  # nothing loaded at that moment
        ModelResidency(8_000_000_000, 8_000_000_000),
        ModelResidency(8_000_000_000, 5_000_000_000),
    ]
    found = diagnose([record(0, 0)], LEVELS, None, readings, ollama=True)
    assert (found.model_size_bytes, found.model_size_vram_bytes) == (8 * 10**9, 5 * 10**9)
    assert found.gpu_fraction == 0.625
    (line,) = found.lines()
    assert line.startswith("diagnostic: the model is partly on the CPU: 62% of 8.00 GB in VRAM")
    whole = diagnose([record(0, 0)], LEVELS, None, readings[:2], ollama=True)
    assert whole.gpu_fraction == 1.0 and whole.findings == ()


def test_slots_are_reported_and_a_lower_bound_only_for_ollama() -> None:
    read = SlotEstimate(4, 2, TTFT_STAIRCASE, (8, 12))
    found = diagnose([], LEVELS, read, ollama=True)
    assert (found.parallel_slots, found.parallel_slots_at_least) == (4, None)
    assert found.lines() == [
        "diagnostic: ≈ 4 parallel slots (from the TTFT staircase at 8, 12 users)"
        " (OLLAMA_NUM_PARALLEL)"
    ]
    bound = SlotEstimate(None, 4, TTFT_STAIRCASE)
    assert diagnose([], LEVELS, bound, ollama=True).parallel_slots_at_least == 4
    assert diagnose([], LEVELS, bound, ollama=True).lines() == [
        "diagnostic: no queueing up to 4 users: at least 4 slots (OLLAMA_NUM_PARALLEL)"
    ]
    assert diagnose([], LEVELS, bound, ollama=False).findings == ()


def test_a_run_without_traps_has_no_findings_and_survives_json() -> None:
    quiet = diagnose([record(0, 0), record(1, 1)], LEVELS, None)
    assert quiet.findings == () and quiet.refused == quiet.reloads == 0
    busy = [record(0, 1, status=503), record(1, 0, load_ms=500.0), record(2, 0, load_ms=500.0)]
    found = diagnose(busy, LEVELS, SlotEstimate(2, 1, TTFT_STAIRCASE, (4,)), ollama=True)
    again = Diagnostics.from_dict(json.loads(json.dumps(found.to_dict())))
    assert again == found and len(found.findings) == 3
