"""The official `openai` and `ollama` Python clients work against `loadgen sim`, unmodified."""

from __future__ import annotations

import ollama
import openai
import pytest

from loadgen.tokens import count_tokens
from tests.fixtures.sim import SimFactory

MESSAGES = [{"role": "user", "content": "Say something about batching."}]


@pytest.mark.parametrize("profile", ["fast", "vllm-4090-llama8b"])
def test_openai_client_streaming_and_not(sim_server: SimFactory, profile: str) -> None:
    with sim_server(profile, "--time-scale", "0.05") as sim:
        client = openai.OpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0)
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=6)
        assert reply.choices[0].finish_reason in ("stop", "length")
        assert reply.usage is not None and reply.usage.completion_tokens == 6
        assert count_tokens(reply.choices[0].message.content or "") == 6

        stream = client.chat.completions.create(
            model=model,
            messages=MESSAGES,
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert count_tokens(text) == 5
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == 5

        done = client.completions.create(model=model, prompt="Once upon", max_tokens=3)
        assert count_tokens(done.choices[0].text) == 3


def test_openai_client_sees_errors_as_exceptions(sim_server: SimFactory) -> None:
    with sim_server("vllm-4090-llama8b", "--faults", "http500=1") as sim:
        client = openai.OpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=2)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="m", messages=[], max_tokens=2)
        assert "messages" in str(info.value)


def test_ollama_client_streaming_and_not(sim_server: SimFactory) -> None:
    with sim_server("ollama-4090-llama8b", "--time-scale", "0.05") as sim:
        client = ollama.Client(host=sim.url)
        assert client.list().models[0].model == "llama3.1:8b"
        assert client.ps().models[0].size_vram
        reply = client.chat(model="llama3.1:8b", messages=MESSAGES, options={"num_predict": 4})
        assert reply.done and reply.done_reason == "length" and reply.eval_count == 4
        assert count_tokens(reply.message.content or "") == 4
        assert reply.total_duration and reply.total_duration >= (reply.eval_duration or 0)

        parts = list(
            client.chat(
                model="llama3.1:8b", messages=MESSAGES, stream=True, options={"num_predict": 5}
            )
        )
        assert [p.done for p in parts] == [False] * 5 + [True]
        assert count_tokens("".join(p.message.content or "" for p in parts)) == 5
        assert parts[-1].prompt_eval_count == count_tokens(MESSAGES[0]["content"])

        gen = client.generate(model="llama3.1:8b", prompt="Hello", options={"num_predict": 3})
        assert count_tokens(gen.response) == 3 and gen.eval_count == 3
        streamed = list(
            client.generate(
                model="llama3.1:8b", prompt="Hi", stream=True, options={"num_predict": 2}
            )
        )
        assert streamed[-1].done and "".join(p.response for p in streamed).strip()


def test_ollama_client_reports_errors(sim_server: SimFactory) -> None:
    with sim_server("ollama-4090-llama8b", "--faults", "busy503=1") as sim:
        client = ollama.Client(host=sim.url)
        with pytest.raises(ollama.ResponseError) as info:
            client.chat(model="llama3.1:8b", messages=MESSAGES)
        assert info.value.status_code == 503 and "server busy" in info.value.error
