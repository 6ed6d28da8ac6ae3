"""Ollama /api/chat parser on recorded NDJSON streams; request bodies."""

from __future__ import annotations

import pytest

from loadgen.backends import ChatRequest, OllamaBackend
from loadgen.records import OllamaTimings
from tests.unit.streams.replay import load, replay, without_times

NDJSON_STREAMS = [
    "ollama_chat.ndjson",
    "ollama_chat_thinking.ndjson",
    "ollama_chat_error.ndjson",
    "ollama_chat_truncated.ndjson",
]


@pytest.mark.parametrize("name", NDJSON_STREAMS)
def test_split_at_every_byte_gives_identical_result(name: str) -> None:
    data = load(name)
    per_frame = replay("ollama", data)
    assert replay("ollama", data, chunk_size=1) == per_frame
    for size in (5, len(data)):
        assert without_times(replay("ollama", data, chunk_size=size)) == without_times(per_frame)


def test_plain_stream_with_final_timings() -> None:
    data = load("ollama_chat.ndjson")
    r = replay("ollama", data)
    assert r.ok and r.text == "Hello! I'm fine."
    assert len(r.frame_times_ns) == 6  # the final done frame has empty content
    assert r.t_first_ns == data.index(b"\n") + 1
    assert r.t_first_output_ns == r.t_first_ns
    assert (r.n_out, r.n_out_source, r.n_in, r.n_in_source) == (6, "eval_count", 26, "eval_count")
    assert r.finish_reason == "stop"
    assert r.ollama == OllamaTimings(
        total_duration_ns=912345678,
        load_duration_ns=12345678,
        prompt_eval_count=26,
        prompt_eval_duration_ns=130000000,
        eval_count=6,
        eval_duration_ns=720000000,
    )


def test_thinking_counts_for_ttft_not_ttfo() -> None:
    r = replay("ollama", load("ollama_chat_thinking.ndjson"))
    assert r.ok and r.text == "Four."
    assert len(r.frame_times_ns) == 6
    assert r.t_first_ns == r.frame_times_ns[0]
    assert r.t_first_output_ns == r.frame_times_ns[4]


def test_error_frame() -> None:
    r = replay("ollama", load("ollama_chat_error.ndjson"))
    assert (r.ok, r.error_type) == (False, "server_error")
    assert r.error_detail == "model runner has unexpectedly stopped"
    assert r.text == "Hello"


def test_stream_without_done_is_truncated() -> None:
    r = replay("ollama", load("ollama_chat_truncated.ndjson"))
    assert (r.ok, r.error_type, r.ollama) == (False, "truncated", None)
    assert (r.n_out, r.n_out_source) == (2, "estimate")


def test_malformed_line() -> None:
    r = replay("ollama", b'{"message": {"content": "a"}}\nnot json\n{"done": true}\n')
    assert r.error_type == "malformed"


def test_missing_timing_fields_default_to_zero() -> None:
    line = b'{"message": {"role": "assistant", "content": "ok"}, "done": true, "eval_count": 1}\n'
    r = replay("ollama", line)
    assert r.ok and r.t_first_ns == len(line) and r.n_out == 1 and r.n_in is None
    assert r.ollama is not None and r.ollama.total_duration_ns == 0


def test_body_maps_options_and_merges_extra() -> None:
    req = ChatRequest(
        model="llama3.1:8b",
        messages=({"role": "user", "content": "hi"},),
        max_tokens=64,
        seed=3,
        temperature=0.2,
        ignore_eos=True,
        min_tokens=10,
        extra_body={"think": True, "options": {"num_ctx": 4096}},
    )
    assert OllamaBackend().body(req) == {
        "model": "llama3.1:8b",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "options": {"num_predict": 64, "seed": 3, "temperature": 0.2, "num_ctx": 4096},
        "think": True,
    }
    bare = OllamaBackend().body(ChatRequest(model="m", messages=(), stream=False))
    assert bare == {"model": "m", "messages": [], "stream": False}
