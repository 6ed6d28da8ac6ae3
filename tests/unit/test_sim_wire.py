"""Frame builders: the fast byte-assembled frames equal the JSON of the documented shapes."""

from __future__ import annotations

import json

from loadgen.sim.bodies import parse_ollama, parse_openai
from loadgen.sim.metrics import Histogram
from loadgen.sim.ollama_wire import OllamaFormat
from loadgen.sim.openai_wire import OpenAIFormat, openai_error
from loadgen.sim.outcome import Outcome

OUTCOME = Outcome(
    tokens_in=3,
    tokens_out=2,
    finish_reason="length",
    total_ns=90,
    load_ns=10,
    prefill_ns=20,
    eval_ns=50,
)
TEXTS = ['say "hi"', " \\ back"]


def test_openai_chat_chunks() -> None:
    req = parse_openai(
        {"model": 'm"x', "messages": [{"role": "user", "content": "a b c"}], "stream": True}, "chat"
    )
    fmt = OpenAIFormat(req, "r1")
    frames = fmt.tokens(TEXTS, 0, "length").decode().split("\n\n")[:-1]
    chunks = [json.loads(f.removeprefix("data: ")) for f in frames]
    expected = {
        "id": "chatcmpl-r1",
        "object": "chat.completion.chunk",
        "created": fmt.created,
        "model": 'm"x',
    }
    for chunk, text, reason in zip(chunks, TEXTS, (None, "length"), strict=True):
        assert chunk == {
            **expected,
            "choices": [
                {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": reason}
            ],
        }
    assert fmt.tail(OUTCOME) == b"data: [DONE]\n\n"


def test_openai_completion_chunks_and_usage_tail() -> None:
    req = parse_openai(
        {"model": "m", "prompt": "a", "stream": True, "stream_options": {"include_usage": True}},
        "completion",
    )
    fmt = OpenAIFormat(req, "cmpl-7")
    chunk = json.loads(fmt.tokens(TEXTS[:1], 0, None).decode().removeprefix("data: "))
    assert fmt.head() == b"" and chunk["id"] == "cmpl-7"
    assert chunk["choices"] == [
        {"index": 0, "text": TEXTS[0], "logprobs": None, "finish_reason": None}
    ]
    tail = fmt.tail(OUTCOME).decode().split("\n\n")
    usage = json.loads(tail[0].removeprefix("data: "))
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 5
    assert tail[1] == "data: [DONE]"


def test_ollama_frames() -> None:
    req = parse_ollama(
        {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "x"}]}, "chat"
    )
    fmt = OllamaFormat(req, "r")
    lines = [json.loads(x) for x in fmt.tokens(TEXTS, 0, None).decode().splitlines()]
    for line, text in zip(lines, TEXTS, strict=True):
        assert line == {
            "model": "llama3.1:8b",
            "created_at": line["created_at"],
            "message": {"role": "assistant", "content": text},
            "done": False,
        }
    final = json.loads(fmt.tail(OUTCOME))
    assert final["done"] and final["done_reason"] == "length" and final["eval_count"] == 2
    assert (
        final["total_duration"],
        final["load_duration"],
        final["prompt_eval_duration"],
        final["eval_duration"],
    ) == (90, 10, 20, 50)
    gen = OllamaFormat(parse_ollama({"model": "m", "prompt": "p"}, "completion"), "r")
    assert json.loads(gen.tokens(["w"], 0, None))["response"] == "w"
    assert "response" in gen.body("all", OUTCOME) and gen.body("all", OUTCOME)["done"] is True


def test_malformed_frames_do_not_parse() -> None:
    chat = parse_openai({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "chat")
    bad = OpenAIFormat(chat, "r").malformed().decode().removeprefix("data: ")
    gen = parse_ollama({"model": "m", "prompt": "p"}, "completion")
    for text in (bad, OllamaFormat(gen, "r").malformed().decode()):
        try:
            json.loads(text)
        except ValueError:
            continue
        raise AssertionError(f"parsed: {text!r}")


def test_error_bodies() -> None:
    assert openai_error("vllm", 400, "bad", "BadRequestError") == {
        "object": "error",
        "message": "bad",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    assert openai_error("ollama", 503, "busy", "X")["error"]["message"] == "busy"


def test_histogram_is_cumulative() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.5, 0.7, 5.0):
        h.observe(v)
    lines = h.lines("t", 'a="b"')
    assert lines[:3] == [
        't_bucket{a="b",le="0.1"} 1.0',
        't_bucket{a="b",le="1.0"} 3.0',
        't_bucket{a="b",le="+Inf"} 4.0',
    ]
    assert lines[3] == 't_count{a="b"} 4.0' and lines[4].startswith('t_sum{a="b"} 6.25')
