"""OpenAI-compatible parser on recorded vLLM, SGLang, TGI and llama.cpp streams; request bodies."""

from __future__ import annotations

import pytest

from loadgen.backends import ChatRequest, OpenAIBackend, backend_for
from loadgen.backends.openai import OpenAIAccumulator
from loadgen.errors import LoadgenError
from tests.unit.streams.replay import load, replay, without_times

SSE_STREAMS = [
    "vllm_chat_reasoning.sse",
    "vllm_chat_continuous_usage.sse",
    "vllm_chat_error.sse",
    "llamacpp_server_chat.sse",
    "llamacpp_server_timings_only.sse",
    "llama_cpp_python_chat.sse",
    "sglang_chat.sse",
    "tgi_chat_tool_call.sse",
]


@pytest.mark.parametrize("name", SSE_STREAMS)
def test_split_at_every_byte_gives_identical_result(name: str) -> None:
    data = load(name)
    per_frame = replay("openai", data)
    assert replay("openai", data, chunk_size=1) == per_frame
    for size in (3, 64, len(data)):
        assert without_times(replay("openai", data, chunk_size=size)) == without_times(per_frame)


def test_vllm_reasoning_stream() -> None:
    data = load("vllm_chat_reasoning.sse")
    r = replay("openai", data)
    assert r.ok and r.error_type is None
    assert (
        len(r.frame_times_ns) == 12
    )  # 5 reasoning + 7 content; role-only and usage frames skipped
    first_frame_end = data.index(b"\n\n") + 2
    assert r.t_first_ns is not None and r.t_first_ns > first_frame_end  # role-only chunk ignored
    second_frame_end = data.index(b"\n\n", first_frame_end) + 2
    assert r.t_first_ns == second_frame_end  # first reasoning chunk
    assert r.t_first_output_ns == r.frame_times_ns[5]  # first content after reasoning
    assert r.t_last_ns == r.frame_times_ns[-1]
    assert r.text == "Hello! How can I help?"
    assert (r.n_out, r.n_out_source, r.n_in, r.n_in_source) == (13, "usage", 14, "usage")
    assert r.finish_reason == "stop"


def test_vllm_continuous_usage_takes_last() -> None:
    r = replay("openai", load("vllm_chat_continuous_usage.sse"))
    assert (r.n_out, r.n_out_source, r.n_in) == (5, "usage", 9)
    assert r.finish_reason == "length"
    assert r.text == "The engine batches requests."


def test_vllm_error_frame_is_server_error() -> None:
    r = replay("openai", load("vllm_chat_error.sse"))
    assert not r.ok
    assert r.error_type == "server_error"
    assert r.error_detail == "The engine is dead."
    assert len(r.frame_times_ns) == 2


def test_llamacpp_server_usage_and_timings() -> None:
    r = replay("openai", load("llamacpp_server_chat.sse"))
    assert r.ok and r.text == "Paris is the capital of France."
    assert len(r.frame_times_ns) == 7  # role chunk with content null is not a token
    assert (r.n_out, r.n_in, r.n_out_source) == (7, 21, "usage")


def test_llamacpp_server_without_usage_uses_timings() -> None:
    r = replay("openai", load("llamacpp_server_timings_only.sse"))
    assert (r.n_out, r.n_in, r.n_out_source, r.finish_reason) == (4, 21, "usage", "length")


def test_llama_cpp_python_crlf_no_usage_estimates_from_frames() -> None:
    r = replay("openai", load("llama_cpp_python_chat.sse"))
    assert r.ok and r.text == "One, two, three"
    assert (r.n_out, r.n_out_source, r.n_in, r.n_in_source) == (5, "estimate", None, "none")


def test_sglang_first_chunk_carries_role_and_content() -> None:
    r = replay("openai", load("sglang_chat.sse"))
    assert r.ok and r.text == "Sure, here you go"
    assert len(r.frame_times_ns) == 5 and r.n_out == 5


def test_tgi_tool_call_frames_are_output() -> None:
    r = replay("openai", load("tgi_chat_tool_call.sse"))
    assert r.ok and r.finish_reason == "tool_calls"
    assert len(r.frame_times_ns) == 5
    assert r.t_first_output_ns == r.t_first_ns
    assert (r.n_out, r.n_in) == (6, 40)


def test_missing_done_is_truncated() -> None:
    data = load("vllm_chat_reasoning.sse")
    r = replay("openai", data[: data.index(b"data: [DONE]")])
    assert not r.ok and r.error_type == "truncated"
    assert r.n_out == 13  # what did arrive is kept


def test_malformed_frame() -> None:
    r = replay("openai", b'data: {"choices": [\n\ndata: [DONE]\n\n')
    assert r.error_type == "malformed" and r.error_detail is not None
    assert '{"choices"' in r.error_detail


def test_frames_after_done_are_ignored() -> None:
    acc = OpenAIAccumulator()
    acc.on_frame({"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}]}, 10)
    acc.on_done_marker(20)
    acc.on_frame({"choices": [{"delta": {"content": "b"}}]}, 30)
    r = acc.result(40)
    assert r.ok and r.frame_times_ns == (10,) and r.text == "a"


def test_string_error_object() -> None:
    acc = OpenAIAccumulator()
    acc.on_frame({"error": "Request failed during generation: out of memory"}, 5)
    acc.on_done_marker(6)
    r = acc.result(7)
    assert r.error_type == "server_error" and r.error_detail is not None
    assert "out of memory" in r.error_detail


def test_vllm_error_object_and_non_object_frames() -> None:
    err = replay("openai", b'data: {"object": "error", "message": "bad model"}\n\ndata: [DONE]\n\n')
    assert (err.ok, err.error_type, err.error_detail) == (False, "server_error", "bad model")
    not_object = replay("openai", b"data: [1]\n\ndata: [DONE]\n\n")
    assert (not_object.ok, not_object.error_type) == (False, "malformed")


def test_body_defaults_and_opt_in_fields() -> None:
    msgs = ({"role": "user", "content": "hi"},)
    plain = OpenAIBackend().body(ChatRequest(model="m", messages=msgs, max_tokens=8))
    assert plain == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 8,
    }
    full = OpenAIBackend().body(
        ChatRequest(
            model="m",
            messages=msgs,
            ignore_eos=True,
            min_tokens=4,
            temperature=0.0,
            seed=7,
            extra_body={"top_p": 0.9, "stream_options": None},
        )
    )
    assert full["ignore_eos"] is True and full["min_tokens"] == 4
    assert full["temperature"] == 0.0 and full["seed"] == 7 and full["top_p"] == 0.9
    assert "stream_options" not in full
    no_stream = OpenAIBackend().body(ChatRequest(model="m", messages=msgs, stream=False))
    assert no_stream["stream"] is False and "stream_options" not in no_stream


def test_backend_for() -> None:
    backend = backend_for("openai")
    assert backend.api == "openai" and backend.path() == "/v1/chat/completions"
    assert backend_for("ollama").path() == "/api/chat"
    with pytest.raises(LoadgenError, match="valid: openai, ollama"):
        backend_for("grpc")
