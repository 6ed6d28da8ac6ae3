"""requests.jsonl: each record's line reads back as the same record; to_dict is asdict's dict."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from loadgen.records import OllamaTimings, RequestRecord
from loadgen.results import REQUESTS_FILE, RequestLog, read_requests


def _record(seq: int, **fields: object) -> RequestRecord:
    base = dict(
        run_id="r", api="openai", model="m", user_class="Chat", worker="host:1", stage_index=0,
        stage_users=4, seq=seq, wall_send_unix_ns=1_764_000_000_000_000_000, t_send_ns=10,
        t_end_ns=900, t_first_ns=100, t_last_ns=300, frame_times_ns=(100, 200, 300), n_out=3,
    )  # fmt: skip
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


RECORDS = [
    _record(0),
    _record(
        1,
        ok=False,
        error_type="http_status",
        error_detail="HTTP 503: «busy» ☕",
        http_status=503,
        retry_after_s=1.5,
        frame_times_ns=(),
        n_out=0,
    ),
    _record(2, api="ollama", ollama=OllamaTimings(9, 1, 4, 2, 3, 5), token_frames=3),
]


def test_lines_read_back_as_the_same_records(tmp_path: Path) -> None:
    log = RequestLog(tmp_path)
    assert all(log.write(r) for r in RECORDS)
    log.close()
    assert read_requests(tmp_path) == RECORDS
    lines = (tmp_path / REQUESTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        json.loads(json.dumps(r.to_dict())) for r in RECORDS
    ]


def test_to_dict_is_asdict() -> None:
    for record in RECORDS:
        assert record.to_dict() == dataclasses.asdict(record)
        assert isinstance(record.to_dict()["frame_times_ns"], tuple)


def test_a_full_disk_is_one_line_and_no_more_writes(tmp_path: Path) -> None:
    """Every line is written when `write` returns: on a full disk (/dev/full) the first write
    fails with one line naming the file, and nothing more is written."""
    (tmp_path / REQUESTS_FILE).symlink_to("/dev/full")
    log = RequestLog(tmp_path)
    assert not log.write(RECORDS[0])
    assert str(tmp_path / REQUESTS_FILE) in log.error and "\n" not in log.error
    assert "No space left" in log.error
    assert not log.write(RECORDS[1]) and log.count == 0
    log.close()
