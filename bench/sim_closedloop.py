"""A small asyncio closed-loop client for the simulator's calibration bench and scaling tests.

Each user streams `/v1/chat/completions` (or `/api/chat`) with ignore_eos and sends its next
request as soon as the previous one ends. Throughput counts tokens that arrived inside the window
(exact even when few requests finish in it); TTFT averages requests whose first token did.
The load generator itself is loadgen/swarm; this one only needs aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp

from loadgen.tokens import text_of


@dataclass(frozen=True, slots=True)
class Workload:
    """What every request asks for."""

    prompt_tokens: int = 128
    output_tokens: int = 256
    api: str = "openai"  # or "ollama"
    model: str = "sim"


@dataclass
class LoopStats:
    """Tokens and first tokens that arrived inside the measurement window."""

    window_s: float
    tokens: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def output_tok_s(self) -> float:
        return self.tokens / self.window_s

    @property
    def ttft_mean_ms(self) -> float:
        return sum(self.ttft_ms) / len(self.ttft_ms) if self.ttft_ms else 0.0


def _request(work: Workload, seed: int) -> tuple[str, dict[str, object]]:
    messages = [{"role": "user", "content": text_of(work.prompt_tokens, seed)}]
    if work.api == "ollama":
        options = {"num_predict": work.output_tokens, "ignore_eos": True}
        return "/api/chat", {"model": work.model, "messages": messages, "options": options}
    body = {
        "model": work.model,
        "messages": messages,
        "max_tokens": work.output_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    return "/v1/chat/completions", body


async def one_request(
    session: aiohttp.ClientSession, url: str, work: Workload, seed: int, token_times: list[int]
) -> int:
    """Send one streaming request; append each content frame's arrival time to `token_times`
    as it comes (so a request cut off at the end of a window still counts). Returns t_send_ns."""
    path, body = _request(work, seed)
    t_send = time.perf_counter_ns()
    async with session.post(url + path, json=body) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.strip()
            if not line or line == b"data: [DONE]":
                continue
            if _has_content(json.loads(line.removeprefix(b"data: "))):
                token_times.append(time.perf_counter_ns())
    return t_send


def _has_content(frame: dict[str, object]) -> bool:
    message = frame.get("message")
    if isinstance(message, dict):
        return bool(message.get("content"))
    choices = frame.get("choices")
    if isinstance(choices, list) and choices:
        delta = choices[0].get("delta") or {}
        return bool(delta.get("content"))
    return False


async def closed_loop(
    url: str, users: int, work: Workload, warmup_s: float, window_s: float, ramp_s: float = 0.0
) -> LoopStats:
    """Run `users` closed-loop users; they start evenly over `ramp_s` and stop after the window."""
    stats = LoopStats(window_s)
    t0 = time.perf_counter_ns()
    start_ns, end_ns = t0 + int(warmup_s * 1e9), t0 + int((warmup_s + window_s) * 1e9)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        def count(t_send: int, times: list[int]) -> None:
            stats.tokens += sum(start_ns <= t <= end_ns for t in times)
            if times and start_ns <= times[0] <= end_ns:
                stats.ttft_ms.append((times[0] - t_send) / 1e6)

        async def user(u: int) -> None:
            await asyncio.sleep(ramp_s * u / users)
            n = 0
            while time.perf_counter_ns() < end_ns:
                n += 1
                times: list[int] = []
                t_send = time.perf_counter_ns()
                try:
                    await one_request(session, url, work, u * 100_003 + n, times)
                except (aiohttp.ClientError, ValueError):
                    stats.failures += 1
                finally:  # also when cancelled at the end of the window
                    count(t_send, times)

        tasks = [asyncio.create_task(user(u)) for u in range(users)]
        await asyncio.sleep((end_ns - time.perf_counter_ns()) / 1e9)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats
