"""Engine behaviour over HTTP: fifo stays flat while continuous batching scales; queue bound;
KV-cache preemption. Ratios of simulated behaviour only, never wall-clock limits."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import aiohttp

from bench.sim_closedloop import Workload, closed_loop
from tests.fixtures.sim import SimFactory, SimServer

SCALE = "0.2"  # five times faster than real time; ratios are unaffected


def tok_s(sim: SimServer, users: int, api: str) -> float:
    """Output tok/s: the tokens that arrived in a 1.5 s window after 1 s of warmup. At a fifth
    of real time a decode step is 2.7-13.5 ms, so the window holds 110-550 steps."""
    work = Workload(prompt_tokens=64, output_tokens=48, api=api)
    stats = asyncio.run(closed_loop(sim.url, users, work, warmup_s=1.0, window_s=1.5, ramp_s=0.5))
    assert stats.failures == 0 and stats.tokens > 0
    return stats.output_tok_s


def test_fifo_is_flat_where_continuous_batching_scales(sim_server: SimFactory) -> None:
    with sim_server("ollama-4090-llama8b", "--time-scale", SCALE) as sim:
        fifo = tok_s(sim, 10, "ollama") / tok_s(sim, 1, "ollama")
    with sim_server("vllm-4090-llama8b", "--time-scale", SCALE) as sim:
        continuous = tok_s(sim, 10, "openai") / tok_s(sim, 1, "openai")
    # reference table: Ollama 148/62 = 2.4x, vLLM 485/71 = 6.8x from 1 to 10 users
    assert fifo < 3.2 and continuous > 4.5 and continuous / fifo > 1.8, (fifo, continuous)


async def _burst(url: str, path: str, bodies: list[dict[str, object]]) -> list[tuple[int, bytes]]:
    async with aiohttp.ClientSession() as session:

        async def one(body: dict[str, object]) -> tuple[int, bytes]:
            async with session.post(url + path, json=body) as resp:
                return resp.status, await resp.read()

        return await asyncio.gather(*(one(b) for b in bodies))


def test_fifo_queue_bound_answers_503_busy(sim_server: SimFactory, tmp_path: Path) -> None:
    profile = tmp_path / "tiny-ollama.toml"
    profile.write_text(
        'engine = "ollama"\nscheduler = "fifo"\nmax_running = 1\nmax_queue = 2\n'
        "step_base_ms = 20.0\n"
    )
    body = {"model": "m", "prompt": "hi", "stream": False, "options": {"num_predict": 10}}
    with sim_server(str(profile)) as sim:
        results = asyncio.run(_burst(sim.url, "/api/generate", [body] * 8))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * 3 + [503] * 5  # one running, two queued
    busy = next(json.loads(raw) for s, raw in results if s == 503)
    assert busy == {"error": "server busy, please try again.  maximum pending requests exceeded"}


def test_kv_budget_preempts_and_every_request_still_completes(
    sim_server: SimFactory, tmp_path: Path
) -> None:
    profile = tmp_path / "tiny-kv.toml"
    profile.write_text(
        'engine = "vllm"\nmax_running = 64\nkv_blocks = 40\nmax_model_len = 512\n'
        "step_base_ms = 2.0\n"
    )
    prompt = " ".join(["token"] * 40)
    body = {"model": "m", "prompt": prompt, "max_tokens": 100, "ignore_eos": True}
    with sim_server(str(profile)) as sim:
        results = asyncio.run(_burst(sim.url, "/v1/completions", [body] * 12))
        with urllib.request.urlopen(sim.url + "/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    assert [s for s, _ in results] == [200] * 12
    assert all(json.loads(raw)["usage"]["completion_tokens"] == 100 for _, raw in results)
    line = next(x for x in metrics.splitlines() if x.startswith("vllm:num_preemptions_total{"))
    assert float(line.split()[-1]) > 0
