"""Streams that end unusually: transformers serve (no `[DONE]`), llama-cpp-python interrupted."""

from __future__ import annotations

from tests.unit.streams.replay import load, replay, without_times

STREAM = "transformers_serve_chat.sse"


def test_final_frame_with_finish_reason_and_usage_ends_the_stream() -> None:
    r = replay("openai", load(STREAM))
    assert (r.ok, r.error_type, r.finish_reason) == (True, None, "length")
    assert (r.n_out, r.n_out_source, r.n_in) == (5, "usage", 25)
    assert len(r.frame_times_ns) == 5  # the role-only first frame is not a token
    assert r.text.split() == ["w123572", "w32375", "w123572", "w32375", "w51916"]


def test_split_at_every_byte_gives_identical_result() -> None:
    data = load(STREAM)
    per_frame = replay("openai", data)
    assert replay("openai", data, chunk_size=1) == per_frame
    assert without_times(replay("openai", data, chunk_size=64)) == without_times(per_frame)


def test_cut_before_the_final_frame_is_truncated() -> None:
    data = load(STREAM)
    r = replay("openai", data[: data.index(b'"finish_reason"')].rsplit(b"\n\n", 1)[0] + b"\n\n")
    assert (r.ok, r.error_type, r.n_out_source) == (False, "truncated", "estimate")
    assert r.n_out == 5


def test_finish_reason_without_usage_and_no_done_is_truncated() -> None:
    frame = b'data: {"choices":[{"delta":{"content":"a"},"index":0,"finish_reason":"stop"}]}\n\n'
    r = replay("openai", frame)
    assert (r.ok, r.error_type, r.finish_reason) == (False, "truncated", "stop")


def test_done_without_finish_reason_is_truncated() -> None:
    # llama-cpp-python's server (interrupt_requests on) cut this request for a newer one: it sent
    # [DONE] after 8 of 40 tokens with no finish_reason, then dropped the connection.
    r = replay("openai", load("llama_cpp_python_interrupted.sse"))
    assert (r.ok, r.error_type, r.finish_reason) == (False, "truncated", None)
    assert r.error_detail == "stream ended without a finish_reason"
    assert (r.n_out, r.n_out_source) == (len(r.frame_times_ns), "estimate") and r.n_out == 8


def test_a_frame_after_the_closing_frame_leaves_the_stream_cut() -> None:
    """Only a last frame with finish_reason and usage ends a stream without [DONE]: a plain
    token (the token lane's frame) or any other frame after it means the close cut the stream."""
    closing = (
        b'data: {"choices":[{"delta":{},"index":0,"finish_reason":"length"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n'
    )
    token = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]}\n\n'
    )
    role = b'data: {"choices":[{"delta":{"role":"assistant"},"index":0}]}\n\n'
    assert replay("openai", token + closing).ok
    for after in (token, role):
        r = replay("openai", token + closing + after)
        assert (r.ok, r.error_type) == (False, "truncated"), after
