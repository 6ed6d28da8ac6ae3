"""Hold 1,000 concurrent streams on the simulator and report how well its one loop keeps time.

A continuous-batching profile with room for every stream (max_running 1024, no KV limit) runs
steps of `step_base_ms + step_per_seq_ms * batch` (100 ms at 1,000 streams); each stream asks
for `--tokens` tokens. The client (this process, aiohttp) only counts SSE lines. Printed: how
many streams ran at once, how many finished complete, delivered vs ideal token rate, the
scheduler's step-timing error (lateness of each step end versus its deadline) and the server's CPU.

    python bench/sim_capacity.py [--streams 1000] [--tokens 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil

from loadgen.sim.child import sim_process

PROFILE = """
engine = "vllm"
scheduler = "continuous"
model = "capacity"
max_running = 1024
step_base_ms = {base}
step_per_seq_ms = {per_seq}
"""


def stats(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "/sim/stats", timeout=10) as resp:
        doc: dict[str, object] = json.loads(resp.read())
        return doc


async def stream(session: aiohttp.ClientSession, url: str, tokens: int, delay_s: float) -> int:
    """One streaming request; returns the number of content chunks received."""
    await asyncio.sleep(delay_s)
    body = {
        "model": "capacity",
        "messages": [{"role": "user", "content": "hold on"}],
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": True,
    }
    received = 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        async for line in resp.content:
            received += line.startswith(b'data: {"id"') and b'"content":""' not in line
    return received


async def drive(url: str, streams: int, tokens: int, spread_s: float) -> tuple[list[int], int]:
    """All streams at once; meanwhile sample how many run concurrently on the server."""
    peak = 0
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [
            asyncio.create_task(stream(session, url, tokens, spread_s * i / streams))
            for i in range(streams)
        ]
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.5)
            doc = await asyncio.to_thread(stats, url)
            peak = max(peak, int(str(doc["running"])))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, int) else -1 for r in results], peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--step-base-ms", type=float, default=60.0)
    parser.add_argument("--step-per-seq-ms", type=float, default=0.04)
    parser.add_argument("--spread-s", type=float, default=2.0, help="stream start spread")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "capacity.toml"
        profile.write_text(PROFILE.format(base=args.step_base_ms, per_seq=args.step_per_seq_ms))
        with sim_process("--profile", str(profile)) as (url, pid):
            server = psutil.Process(pid)
            server.cpu_percent()
            t0 = time.perf_counter()
            received, peak = asyncio.run(drive(url, args.streams, args.tokens, args.spread_s))
            elapsed = time.perf_counter() - t0
            cpu = server.cpu_percent()
            doc = stats(url)
    report(args, received, peak, elapsed, cpu, doc)


def report(
    args: argparse.Namespace,
    received: list[int],
    peak: int,
    elapsed: float,
    cpu: float,
    doc: dict[str, object],
) -> None:
    complete = sum(r == args.tokens for r in received)
    step_ms = args.step_base_ms + args.step_per_seq_ms * args.streams
    ideal_s = args.tokens * step_ms / 1e3 + args.spread_s
    timing = doc["step_timing"]
    assert isinstance(timing, dict)
    print(
        f"streams: {args.streams} requested, {peak} running at once (server-side peak), "
        f"{complete} complete with {args.tokens} tokens, {sum(r < 0 for r in received)} failed"
    )
    print(
        f"tokens delivered: {sum(max(r, 0) for r in received)} in {elapsed:.1f} s; "
        f"ideal duration {ideal_s:.1f} s -> ratio ideal/actual {ideal_s / elapsed:.3f}"
    )
    print(f"step at full batch: {step_ms:.0f} ms ideal; steps run: {timing['steps']}")
    print(
        f"step-timing error: p50 {timing['late_p50_ms']:.3f} ms, p99 {timing['late_p99_ms']:.1f} "
        f"ms, mean {timing['late_mean_ms']:.3f} ms, max {timing['late_max_ms']:.1f} ms, "
        f"later than 1 ms: {timing['late_over_1ms']} of {timing['steps']} steps"
    )
    print(f"server CPU: {cpu:.0f} % of one core on average")


if __name__ == "__main__":
    main()
