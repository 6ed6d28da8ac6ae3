"""Token-count honesty: the parsers count token-bearing frames beside the server's N_out, and a
level counts the requests whose two counts differ (docs/engine-insight.md)."""

from __future__ import annotations

import dataclasses

from loadgen import schema
from loadgen.level_summary import summarize_samples
from loadgen.records import RequestRecord
from loadgen.stats import LevelSamples
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table, token_count_lines
from tests.unit.streams.replay import load, replay
from tests.unit.test_timing import record


def test_parsers_count_token_bearing_frames_beside_the_server_count() -> None:
    vllm = replay("openai", load("vllm_chat_reasoning.sse"))
    # role-only and usage-only chunks carry no token; vLLM's usage counts one more token
    assert (vllm.token_frames, vllm.n_out, vllm.n_out_source) == (12, 13, "usage")
    ollama = replay("ollama", load("ollama_chat.ndjson"))
    assert ollama.token_frames == len(ollama.frame_times_ns) > 0
    assert ollama.n_out_source == "eval_count"


def test_a_record_keeps_the_count_and_an_older_line_gets_it_from_its_frame_times() -> None:
    counted = record(token_frames=3)
    assert RequestRecord.from_dict(counted.to_dict()).token_frames == 3
    older = counted.to_dict()
    del older["token_frames"]
    assert RequestRecord.from_dict(older).token_frames == 4  # one time per frame


def test_a_level_counts_only_requests_with_both_counts() -> None:
    samples = LevelSamples()
    samples.add(record(token_frames=4))  # match
    samples.add(record(token_frames=2))  # two tokens per frame: a mismatch
    samples.add(record(token_frames=2, n_out_source="eval_count", n_out=3))  # mismatch
    samples.add(record(token_frames=4, n_out_source="estimate"))  # the client's own count
    samples.add(record(token_frames=None))  # not counted
    samples.add(record(token_frames=1, ok=False, error_type="truncated"))
    assert (samples.token_checked_requests, samples.token_mismatch_requests) == (3, 2)


def _level_summary(records: list[RequestRecord]) -> RunSummary:
    samples = LevelSamples()
    for r in records:
        samples.add(r)
    return RunSummary("r", (summarize_samples(samples, 10.0, users=2),), RunMeta("r"))


def test_the_table_names_a_level_with_mismatches_and_is_silent_without() -> None:
    exact = _level_summary([record(token_frames=4, seq=i) for i in range(3)])
    assert (exact.levels[0].token_checked_requests, exact.levels[0].token_mismatch_requests) == (
        3,
        0,
    )
    assert token_count_lines(exact.levels) == []
    assert "token-bearing" not in format_table(exact)
    batched = _level_summary([record(token_frames=2, seq=i) for i in range(3)])
    assert format_table(batched).splitlines()[-1] == (
        "level 0 (2 users): 3 of 3 requests streamed a number of token-bearing frames other than"
        " the server's output token count (see docs/engine-insight.md)"
    )


def test_the_counts_reach_the_request_and_stage_points() -> None:
    point = schema.request_point(record(token_frames=2), {"engine": "sim"})
    assert ("token_frames", 2) in point.fields
    level = _level_summary([record(token_frames=2)]).levels[0]
    stage = schema.stage_point(level, {"run_id": "r"}, 0, 10**10)
    fields = dict(stage.fields)
    assert (fields["token_checked_requests"], fields["token_mismatch_requests"]) == (1, 1)
    assert dataclasses.asdict(level)["token_mismatch_requests"] == 1  # summary.json
