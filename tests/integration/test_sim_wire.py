"""Every route of `loadgen sim` read with a plain HTTP client: vLLM and Ollama wire formats."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadgen.tokens import count_tokens
from tests.fixtures.sim import SimServer, start_sim

PROMPT = "How does the scheduler admit new requests?"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    tmp = tmp_path_factory.mktemp("sim_wire")
    truth = tmp / "truth.jsonl"
    with start_sim("fast", "--truth", str(truth), "--seed", "5", log_dir=tmp) as server:
        yield server


def post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def sse_events(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    events = raw.decode().split("\n\n")
    assert events[-1] == "", "the body must end with a blank line"
    assert all(e.startswith("data: ") for e in events[:-1])
    return [e.removeprefix("data: ") for e in events[:-1]]


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "sim-fast", "messages": [{"role": "user", "content": PROMPT}], **extra}


def test_openai_chat_stream_is_shaped_like_vllm(sim: SimServer) -> None:
    body = chat(stream=True, max_tokens=7, ignore_eos=True, stream_options={"include_usage": True})
    status, headers, raw = post(sim.url + "/v1/chat/completions", body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    first, tokens, usage = chunks[0], chunks[1:-1], chunks[-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(tokens) == 7
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["id"] == first["id"]
        assert c["model"] == "sim-fast" and isinstance(c["created"], int)
    for c in tokens:
        choice = c["choices"][0]
        assert set(choice) == {"index", "delta", "logprobs", "finish_reason"}
        assert choice["index"] == 0 and choice["logprobs"] is None
        assert set(choice["delta"]) == {"content"} and choice["delta"]["content"]
        assert "usage" not in c
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 6 + ["length"]
    text = "".join(c["choices"][0]["delta"]["content"] for c in tokens)
    assert count_tokens(text) == 7 and len(set(text.split())) > 1
    assert usage["choices"] == []
    n_in = count_tokens(PROMPT)
    assert usage["usage"] == {
        "prompt_tokens": n_in,
        "completion_tokens": 7,
        "total_tokens": n_in + 7,
    }


def test_continuous_usage_stats_put_usage_on_every_chunk(sim: SimServer) -> None:
    opts = {"include_usage": True, "continuous_usage_stats": True}
    body = chat(stream=True, max_tokens=3, ignore_eos=True, stream_options=opts)
    chunks = [
        json.loads(e) for e in sse_events(post(sim.url + "/v1/chat/completions", body)[2])[:-1]
    ]
    assert [c["usage"]["completion_tokens"] for c in chunks] == [0, 1, 2, 3, 3]
    assert chunks[-1]["choices"] == []


def test_stream_without_usage_ends_with_done_and_no_usage_chunk(sim: SimServer) -> None:
    events = sse_events(post(sim.url + "/v1/chat/completions", chat(stream=True, max_tokens=2))[2])
    assert events[-1] == "[DONE]" and all(json.loads(e)["choices"] for e in events[:-1])


def test_openai_chat_non_streaming(sim: SimServer) -> None:
    status, headers, raw = post(
        sim.url + "/v1/chat/completions", chat(max_tokens=5, ignore_eos=True)
    )
    doc = json.loads(raw)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert doc["object"] == "chat.completion" and doc["id"].startswith("chatcmpl-")
    choice = doc["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "length"
    assert count_tokens(choice["message"]["content"]) == 5
    assert doc["usage"]["completion_tokens"] == 5


def test_completions_stream_and_whole(sim: SimServer) -> None:
    body = {"model": "m", "prompt": PROMPT, "max_tokens": 4, "ignore_eos": True}
    doc = json.loads(post(sim.url + "/v1/completions", body)[2])
    assert doc["object"] == "text_completion" and count_tokens(doc["choices"][0]["text"]) == 4
    events = sse_events(post(sim.url + "/v1/completions", {**body, "stream": True})[2])
    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == "[DONE]" and len(chunks) == 4  # no role chunk for completions
    assert all(c["object"] == "text_completion" and c["choices"][0]["text"] for c in chunks)


def test_eos_min_tokens_and_max_tokens(sim: SimServer) -> None:
    lengths = set()
    for seed in range(6):  # without ignore_eos the length is the seeded natural one (16..128)
        doc = json.loads(post(sim.url + "/v1/chat/completions", chat(seed=seed))[2])
        lengths.add(doc["usage"]["completion_tokens"])
        assert doc["choices"][0]["finish_reason"] == "stop"
    assert len(lengths) > 1 and all(16 <= n <= 128 for n in lengths)
    doc = json.loads(post(sim.url + "/v1/chat/completions", chat(min_tokens=200, seed=1))[2])
    assert doc["usage"]["completion_tokens"] == 200
    doc = json.loads(post(sim.url + "/v1/chat/completions", chat(max_tokens=3, seed=1))[2])
    assert doc["usage"]["completion_tokens"] == 3 and doc["choices"][0]["finish_reason"] == "length"


def test_ollama_chat_ndjson_stream(sim: SimServer) -> None:
    body = {
        "model": "llama3.1:8b",
        "messages": [{"role": "user", "content": PROMPT}],
        "options": {"num_predict": 6},
    }
    status, headers, raw = post(sim.url + "/api/chat", body)  # stream defaults to true
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    frames = [json.loads(line) for line in raw.decode().splitlines()]
    tokens, final = frames[:-1], frames[-1]
    assert len(tokens) == 6
    for f in tokens:
        assert set(f) == {"model", "created_at", "message", "done"} and f["done"] is False
        assert f["message"]["role"] == "assistant" and f["message"]["content"]
        assert f["created_at"].endswith("Z") and f["model"] == "llama3.1:8b"
    assert final["done"] is True and final["done_reason"] == "length"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["prompt_eval_count"] == count_tokens(PROMPT) and final["eval_count"] == 6
    durations = [
        final[k]
        for k in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
    ]
    assert all(isinstance(d, int) and d >= 0 for d in durations)
    assert final["total_duration"] >= sum(durations[1:])


def test_ollama_generate_whole_and_stream(sim: SimServer) -> None:
    body = {"model": "m", "prompt": PROMPT, "stream": False, "options": {"num_predict": 5}}
    doc = json.loads(post(sim.url + "/api/generate", body)[2])
    assert doc["done"] is True and count_tokens(doc["response"]) == 5 and doc["eval_count"] == 5
    assert "message" not in doc
    raw = post(sim.url + "/api/generate", {**body, "stream": True})[2]
    frames = [json.loads(line) for line in raw.decode().splitlines()]
    assert [f["done"] for f in frames] == [False] * 5 + [True]
    assert all("response" in f for f in frames)


def test_bad_bodies_get_400_in_each_api_style(sim: SimServer) -> None:
    status, _, raw = post(sim.url + "/v1/chat/completions", b"{not json")
    err = json.loads(raw)["error"]
    assert status == 400 and err["message"] and err["type"] == "BadRequestError"
    status, _, raw = post(sim.url + "/v1/chat/completions", {"model": "m", "messages": "hi"})
    assert status == 400 and "messages" in json.loads(raw)["error"]["message"]
    status, _, raw = post(sim.url + "/v1/chat/completions", chat(max_tokens="ten"))
    assert status == 400 and "max_tokens" in json.loads(raw)["error"]["message"]
    status, _, raw = post(sim.url + "/api/chat", b"[1, 2")
    assert status == 400 and set(json.loads(raw)) == {"error"}
    status, _, raw = post(sim.url + "/api/generate", {"prompt": "hi"})
    assert status == 400 and json.loads(raw) == {"error": "model is required"}
    status, _, raw = post(sim.url + "/v1/chat/completions", chat(max_tokens=40_000))
    assert status == 200  # capped by max_model_len, as vLLM does when the room is enough
    long_prompt = " ".join(["word"] * 33_000)
    status, _, raw = post(sim.url + "/api/generate", {"model": "m", "prompt": long_prompt})
    assert status == 400 and "context length" in json.loads(raw)["error"]


def test_catalog_routes(sim: SimServer) -> None:
    models = json.loads(get(sim.url + "/v1/models")[2])
    assert models["object"] == "list" and models["data"][0]["id"] == "sim-fast"
    assert json.loads(get(sim.url + "/version")[2])["version"]
    assert json.loads(get(sim.url + "/api/version")[2])["version"]
    assert get(sim.url + "/health")[0] == 200
    tags = json.loads(get(sim.url + "/api/tags")[2])["models"][0]
    assert {"name", "model", "modified_at", "size", "digest", "details"} <= set(tags)
    ps = json.loads(get(sim.url + "/api/ps")[2])["models"][0]
    assert ps["size"] > 0 and ps["size_vram"] == ps["size"] and ps["expires_at"]
    gpu = json.loads(get(sim.url + "/sim/gpu")[2])
    assert gpu["engine"] == "sim" and gpu["profile"] == "fast"
    card = gpu["gpus"][0]
    assert {
        "index",
        "name",
        "vram_used_bytes",
        "vram_total_bytes",
        "vram_reserved_bytes",
        "gpu_util_pct",
        "power_w",
        "temperature_c",
    } == set(card)
    assert 0 < card["vram_used_bytes"] <= card["vram_reserved_bytes"] <= card["vram_total_bytes"]


def test_metrics_use_vllm_names(sim: SimServer) -> None:
    post(sim.url + "/v1/chat/completions", chat(max_tokens=2))
    status, ctype, raw = get(sim.url + "/metrics")
    text = raw.decode()
    assert status == 200 and ctype.startswith("text/plain")
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:num_preemptions_total",
    ):
        assert f'{name}{{model_name="sim-fast"}} ' in text
    for hist in ("vllm:time_to_first_token_seconds", "vllm:request_queue_time_seconds"):
        assert f"# TYPE {hist} histogram" in text
        assert f'{hist}_bucket{{model_name="sim-fast",le="+Inf"}}' in text
        count = next(line for line in text.splitlines() if line.startswith(f"{hist}_count"))
        assert float(count.split()[-1]) >= 1


def test_truth_file_records_every_request(sim: SimServer) -> None:
    rid = "wire-test-42"
    post(
        sim.url + "/v1/chat/completions",
        chat(stream=True, max_tokens=4, ignore_eos=True),
        headers={"x-request-id": rid},
    )
    post(sim.url + "/api/chat", b"{bad")
    truth = Path(sim.log).parent / "truth.jsonl"
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    row = next(r for r in rows if r["request_id"] == rid)
    assert row["route"] == "/v1/chat/completions" and row["api"] == "openai"
    assert row["status"] == 200 and row["fault"] is None
    assert row["tokens_out"] == 4 and row["tokens_in"] == count_tokens(PROMPT)
    assert (
        row["arrival_mono_ns"]
        <= row["admitted_mono_ns"]
        <= row["first_token_mono_ns"]
        <= row["last_token_mono_ns"]
        <= row["end_mono_ns"]
    )
    assert row["queue_wait_ns"] >= 0 and row["wall_arrival_unix_ns"] > 1_600_000_000 * 10**9
    bad = [r for r in rows if r["route"] == "/api/chat" and r["status"] == 400]
    assert bad and bad[-1]["api"] == "ollama" and bad[-1]["tokens_out"] == 0
