"""Simulated VRAM follows the reference: vLLM 16.1 -> 21.8 GB, Ollama 5.2 -> 5.4 GB at 50 users."""

from __future__ import annotations

import pytest

from loadgen.sim.engine import Engine, Sequence, make_engine
from loadgen.sim.gpu import GpuMeter, vram_used_bytes
from loadgen.sim.profiles import Profile, load_profile


def loaded_engine(name: str, users: int, steps: int) -> tuple[Profile, Engine]:
    profile = load_profile(name)
    engine = make_engine(profile)
    for _ in range(users):
        engine.submit(Sequence(tokens_in=128, tokens_target=256))
    for i in range(steps):
        step = engine.plan_step(i)
        assert step is not None
        engine.finish_step(step, i, i + 1)
    return profile, engine


@pytest.mark.parametrize(
    ("name", "idle_gb", "busy_gb"),
    [("vllm-4090-llama8b", 16.1, 21.8), ("ollama-4090-llama8b", 5.2, 5.4)],
)
def test_vram_idle_and_at_50_users(name: str, idle_gb: float, busy_gb: float) -> None:
    profile, idle = loaded_engine(name, 0, 0)
    assert vram_used_bytes(profile, idle) / 1e9 == pytest.approx(idle_gb, rel=0.02)
    profile, busy = loaded_engine(name, 50, 128)  # half-way through 256-token answers
    assert vram_used_bytes(profile, busy) / 1e9 == pytest.approx(busy_gb, rel=0.03)


def test_vllm_reserves_its_pool_up_front() -> None:
    profile, engine = loaded_engine("vllm-4090-llama8b", 0, 0)
    doc = GpuMeter(profile).snapshot(engine, busy_ns=0, time_scale=1.0)
    gpu = doc["gpus"][0]
    assert doc["engine"] == "vllm" and doc["profile"] == "vllm-4090-llama8b"
    assert gpu["vram_reserved_bytes"] == profile.gpu.reserve_bytes > gpu["vram_used_bytes"]
    assert gpu["gpu_util_pct"] == 0.0 and gpu["power_w"] == profile.gpu.idle_power_w
    profile, full = loaded_engine("vllm-4090-llama8b", 256, 200)
    assert vram_used_bytes(profile, full) == profile.gpu.reserve_bytes  # never beyond the pool


def test_ollama_reserved_equals_used() -> None:
    profile, engine = loaded_engine("ollama-4090-llama8b", 10, 3)
    gpu = GpuMeter(profile).snapshot(engine, busy_ns=0, time_scale=1.0)["gpus"][0]
    assert gpu["vram_reserved_bytes"] == gpu["vram_used_bytes"] == vram_used_bytes(profile, engine)
