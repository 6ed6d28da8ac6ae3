"""The paced profile over HTTP: every stream runs at its own fixed rate, at few and many streams.

Checked on the simulator's own truth file, not on any client's clock. Exact: no token comes
before its deadline (admitted + k / rate), so tokens / (last token - admitted) never exceeds the
rate, and a queue wait is never negative. Banded: deadlines chain per stream, so a stream's
first-to-last time differs from (n - 1) / rate only by its last token's lateness minus its
first's; the band below allows 20 % of a 1 s stream (200 ms of lateness on a busy machine).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import urllib.request
from pathlib import Path

import aiohttp

from tests.fixtures.sim import SimFactory

RATE_TOK_S = 100.0
TOKENS = 101  # 100 intervals: 1 s per stream
BAND = 0.2


async def _streams(url: str, n: int) -> list[int]:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": TOKENS,
        "ignore_eos": True,
        "stream": True,
    }
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one() for _ in range(n)))


def _rows(truth: Path) -> list[dict[str, int]]:
    return [json.loads(line) for line in truth.read_text().splitlines()]


def test_every_stream_runs_at_the_paced_rate(sim_server: SimFactory, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    rate = f"{RATE_TOK_S:g}"
    with sim_server("paced", "--stream-tok-s", rate, "--truth", str(truth)) as sim:
        for n in (4, 64):
            assert asyncio.run(_streams(sim.url, n)) == [200] * n
        with urllib.request.urlopen(sim.url + "/sim/stats", timeout=10) as resp:
            stats = json.loads(resp.read())
    rows = _rows(truth)
    assert len(rows) == 68 and all(r["tokens_out"] == TOKENS for r in rows)
    interval_ns = 1e9 / RATE_TOK_S
    medians = []
    for group in (rows[:4], rows[4:]):
        for r in group:
            assert r["queue_wait_ns"] >= 0
            # no token before its deadline: an exact bound, whatever the load
            assert r["first_token_mono_ns"] - r["admitted_mono_ns"] >= interval_ns
            assert r["last_token_mono_ns"] - r["admitted_mono_ns"] >= TOKENS * interval_ns
        per_stream = [
            (TOKENS - 1) * 1e9 / (r["last_token_mono_ns"] - r["first_token_mono_ns"]) for r in group
        ]
        medians.append(statistics.median(per_stream))
    for median in medians:  # the same rate at 4 and at 64 streams
        assert (1 - BAND) * RATE_TOK_S <= median <= (1 + BAND) * RATE_TOK_S, medians
    assert stats["profile"] == "paced" and stats["step_timing"]["steps"] == 68 * TOKENS
