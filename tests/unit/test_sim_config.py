"""Profiles, fault specs and request bodies: parsed strictly, with one-line errors."""

from __future__ import annotations

import pytest

from loadgen.errors import LoadgenError
from loadgen.sim.bodies import BadRequest, output_plan, parse_ollama, parse_openai
from loadgen.sim.faults import FaultPlan, parse_faults
from loadgen.sim.profiles import Profile, builtin_names, load_profile, profile_from_dict


def test_builtin_profiles_load() -> None:
    assert {"fast", "ollama-4090-llama8b", "vllm-4090-llama8b"} <= set(builtin_names())
    vllm = load_profile("vllm-4090-llama8b")
    assert vllm.engine == "vllm" and vllm.scheduler == "continuous" and vllm.kv_blocks > 0
    assert vllm.gpu.reserve_bytes > vllm.gpu.weights_bytes
    ollama = load_profile("ollama-4090-llama8b")
    assert ollama.scheduler == "fifo" and ollama.max_queue == 512
    fast = load_profile("fast")
    assert fast.step_base_ms == fast.step_per_seq_ms == fast.request_overhead_ms == 0
    paced = load_profile("paced")
    assert paced.stream_tok_s == 71.0 and paced.kv_blocks == 0 and paced.max_queue == 0
    assert paced.request_overhead_ms == 0 and paced.max_running >= 100_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"max_running": "8"}, "max_running must be int"),
        ({"max_running": True}, "max_running must be int"),
        ({"engine": "tgi"}, "engine must be ollama|vllm|sim"),
        ({"gpu": {"vram": 1}}, "unknown key 'vram'"),
        ({"gpu": 3}, "[gpu] must be a table"),
        ({"eos_min_tokens": 10, "eos_max_tokens": 5}, "eos_min_tokens"),
        ({"kv_blocks": 10, "max_model_len": 4096}, "kv_blocks must hold"),
        ({"stream_tok_s": 20, "kv_blocks": 1024}, "stream_tok_s (per-stream pacing) needs"),
        ({"stream_tok_s": -1.0}, "stream_tok_s must be >= 0"),
        ({"early_role_chunk": "yes"}, "early_role_chunk must be bool"),
        ({"early_role_chunk": 1}, "early_role_chunk must be bool"),
    ],
)
def test_profile_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(LoadgenError) as info:
        profile_from_dict(data, "x")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_profile_ints_are_accepted_for_floats() -> None:
    p = profile_from_dict({"step_base_ms": 3, "gpu": {"max_power_w": 300}}, "x")
    assert p.step_base_ms == 3.0 and isinstance(p.step_base_ms, float) and p.name == "x"


def test_fault_spec_parsing() -> None:
    spec = parse_faults("http500=0.1, stall=0.2:500ms,rate429=0.05")
    assert spec.rates == (("http500", 0.1, 0.0), ("stall", 0.2, 0.5), ("rate429", 0.05, 1.0))
    assert not parse_faults("")
    for bad in ("http500", "boom=0.1", "cut=x", "cut=1.5", "stall=0.1:soon", "cut=0.6,reset=0.6"):
        with pytest.raises(LoadgenError):
            parse_faults(bad)


def test_fault_draws_are_seeded_and_follow_the_rates() -> None:
    spec = parse_faults("http500=0.25,cut=0.25")
    plan_a, plan_b = FaultPlan(spec, seed=3), FaultPlan(spec, seed=3)
    seq_a = [f.name if f else None for f in (plan_a.draw() for _ in range(2000))]
    seq_b = [f.name if f else None for f in (plan_b.draw() for _ in range(2000))]
    assert seq_a == seq_b
    assert 400 < seq_a.count("http500") < 600 and 400 < seq_a.count("cut") < 600
    assert plan_a.injected == {"http500": seq_a.count("http500"), "cut": seq_a.count("cut")}


def test_openai_body_options() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "a b c"}],
        "max_completion_tokens": 9,
        "min_tokens": 2,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    req = parse_openai(body, "chat")
    assert (req.tokens_in, req.max_tokens, req.min_tokens, req.ignore_eos) == (3, 9, 2, True)
    assert req.include_usage and not req.continuous_usage
    parts = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x y"}]}],
    }
    assert parse_openai(parts, "chat").tokens_in == 2
    for bad in (
        [],
        {"messages": []},
        {"model": "m", "messages": [{"content": "x"}]},
        {"model": "m", "prompt": 5},
        {"model": "m", "prompt": "x", "n": 2},
        {"model": "m", "prompt": "x", "stream_options": {"include_usage": True}},
    ):
        with pytest.raises(BadRequest):
            parse_openai(bad, "completion" if "prompt" in str(bad) else "chat")


def test_ollama_body_options() -> None:
    req = parse_ollama(
        {"model": "m", "prompt": "a b", "system": "c", "options": {"num_predict": 7, "seed": 4}},
        "completion",
    )
    assert req.stream and (req.tokens_in, req.max_tokens, req.seed) == (3, 7, 4)
    unlimited = parse_ollama(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "options": {"num_predict": -1},
            "stream": False,
        },
        "chat",
    )
    assert unlimited.max_tokens is None and not unlimited.stream
    with pytest.raises(BadRequest):
        parse_ollama({"model": "m", "messages": [], "options": []}, "chat")


def test_output_plan_eos_min_max_and_context() -> None:
    p = Profile(name="t", eos_min_tokens=10, eos_max_tokens=20, max_model_len=100)
    base = parse_openai({"model": "m", "prompt": "one two three"}, "completion")
    n, why = output_plan(base, p, seed=1)
    assert 10 <= n <= 20 and why == "stop" and output_plan(base, p, seed=1) == (n, why)
    ignore = parse_openai({"model": "m", "prompt": "x", "ignore_eos": True}, "completion")
    assert output_plan(ignore, p, 1) == (99, "length")  # up to the context length
    floor = parse_openai({"model": "m", "prompt": "x", "min_tokens": 50}, "completion")
    assert output_plan(floor, p, 1) == (50, "stop")
    capped = parse_openai({"model": "m", "prompt": "x", "max_tokens": 5}, "completion")
    assert output_plan(capped, p, 1) == (5, "length")
    with pytest.raises(BadRequest, match="context length"):
        output_plan(parse_openai({"model": "m", "prompt": "w " * 100}, "completion"), p, 1)
