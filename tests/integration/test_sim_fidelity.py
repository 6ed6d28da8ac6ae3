"""Every built-in simulator profile against its own truth file: when the first chunk goes out,
and whether the truth's timeline can run backwards.

- A client that stamps the first SSE chunk, whatever it carries (as `vllm bench serve` does),
  reads the truth's TTFT: the role-only chunk goes out with the first token, as vLLM 0.32
  yields it in its first output. With `early_role_chunk = true` (`transformers serve`) it goes
  out before queueing and prefill, and such a client reads a TTFT that short.
- Queue waits are never negative: arrival <= admitted <= first token <= last token <= end in
  every truth row, and `vllm:request_queue_time_seconds` holds exactly the truth's waits.

The bounds are halves of the profile's own time from admission to the first token, the time an
early role chunk would arrive too soon; not a speed figure.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadgen.sim.profiles import Profile, builtin_names, load_profile
from tests.fixtures.net import LOOPBACK
from tests.fixtures.sim import SimFactory, SimServer

PROMPT = " ".join(["word"] * 400)  # a prefill long enough to tell early chunks from late
BURST = 64  # concurrent streams, more than the Ollama-like profile's 48 slots
BURST_GAP_S = 0.003  # arrivals spread over the busy period, so some arrive mid-step
BURST_TOKENS = 16
BURST_SCALE = "0.1"  # the Ollama-like profile's 48 slots at 16 tokens: 0.5 s
ROLE_REQUESTS = 5
_HEADERS_END = b"\r\n\r\n"
_ANY_EVENT = re.compile(rb"data: ")
_ROLE = re.compile(rb'"role":"assistant","content":""')
_FIRST_TOKEN = re.compile(rb'"delta":\{"content":"[^"]')


@dataclass(frozen=True)
class Reads:
    """One streamed response as the socket delivered it: each recv's bytes and its stamp."""

    request_id: str
    t_send_ns: int
    reads: list[tuple[int, bytes]]

    def read_index(self, pattern: re.Pattern[bytes]) -> int:
        """Which recv completed the first match of `pattern` in the body."""
        raw = b"".join(data for _, data in self.reads)
        body_start = raw.index(_HEADERS_END) + len(_HEADERS_END)
        match = pattern.search(raw, body_start)
        assert match is not None, (pattern.pattern, raw[:400])
        offset = 0
        for i, (_, data) in enumerate(self.reads):
            offset += len(data)
            if match.end() <= offset:
                return i
        raise AssertionError("unreachable")

    def ttft_ns(self, pattern: re.Pattern[bytes]) -> int:
        return self.reads[self.read_index(pattern)][0] - self.t_send_ns


def stream_chat(port: int, request_id: str) -> Reads:
    """POST one streamed chat request over a raw socket, stamping every recv."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "max_tokens": 2,
        "ignore_eos": True,
    }
    payload = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nx-request-id: {request_id}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reads: list[tuple[int, bytes]] = []
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        t_send_ns = time.perf_counter_ns()
        sock.sendall(head + payload)
        while data := sock.recv(65536):
            reads.append((time.perf_counter_ns(), data))
    return Reads(request_id, t_send_ns, reads)


def truth_rows(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["request_id"]: row for row in rows}


def pre_token_ns(profile: Profile, tokens_in: int) -> float:
    """Admission to the first token of a request alone on the engine, by the profile."""
    if profile.stream_tok_s > 0:
        return 1e9 / profile.stream_tok_s
    step_ms = profile.step_base_ms + profile.step_per_seq_ms
    return (step_ms + profile.prefill_per_token_ms * tokens_in) * 1e6


def first_chunk_errors_ns(sim: SimServer, truth: Path, tag: str) -> tuple[list[int], list[Reads]]:
    """(client first-chunk TTFT - truth TTFT) of ROLE_REQUESTS sequential requests."""
    streams = [stream_chat(sim.port, f"{tag}-{i}") for i in range(ROLE_REQUESTS)]
    rows = truth_rows(truth)
    errors = []
    for s in streams:
        row = rows[s.request_id]
        truth_ttft_ns = row["first_token_mono_ns"] - row["arrival_mono_ns"]
        errors.append(s.ttft_ns(_ANY_EVENT) - truth_ttft_ns)
    return errors, streams


@pytest.mark.parametrize("profile_name", builtin_names())
def test_the_first_chunk_carries_the_first_token(
    profile_name: str, sim_server: SimFactory, tmp_path: Path
) -> None:
    profile = load_profile(profile_name)
    assert not profile.early_role_chunk
    truth = tmp_path / "truth.jsonl"
    with sim_server(profile_name, "--truth", str(truth)) as sim:
        errors_ns, streams = first_chunk_errors_ns(sim, truth, "first-chunk")
    for s in streams:  # the role chunk travels in the same write as the first token
        assert s.read_index(_ROLE) == s.read_index(_FIRST_TOKEN), s.request_id
    tokens_in = truth_rows(truth)[streams[0].request_id]["tokens_in"]
    bound_ns = pre_token_ns(profile, tokens_in) / 2
    if bound_ns > 0:  # `fast` has no prefill to tell an early chunk from a late one
        # min: the client's own lateness only adds to an error, the early chunk subtracts
        assert -bound_ns <= min(errors_ns) <= bound_ns, (errors_ns, bound_ns)


def test_early_role_chunk_arrives_before_queueing_and_prefill(
    sim_server: SimFactory, tmp_path: Path
) -> None:
    source = Path(__file__).parents[2] / "loadgen/sim/profiles/vllm-4090-llama8b.toml"
    profile_file = tmp_path / "transformers-serve.toml"
    profile_file.write_text("early_role_chunk = true\n" + source.read_text())
    truth = tmp_path / "truth.jsonl"
    with sim_server(str(profile_file), "--truth", str(truth)) as sim:
        errors_ns, streams = first_chunk_errors_ns(sim, truth, "early")
    tokens_in = truth_rows(truth)[streams[0].request_id]["tokens_in"]
    bound_ns = pre_token_ns(load_profile(str(profile_file)), tokens_in) / 2
    assert min(errors_ns) < -bound_ns, (errors_ns, bound_ns)  # TTFT read too short by prefill
    earliest = streams[errors_ns.index(min(errors_ns))]
    assert earliest.read_index(_ROLE) < earliest.read_index(_FIRST_TOKEN)


async def _burst(url: str) -> None:
    body = {"model": "m", "prompt": "one two three", "stream": True, "max_tokens": BURST_TOKENS}

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        await asyncio.sleep(i * BURST_GAP_S)
        async with session.post(url + "/v1/completions", json={**body, "ignore_eos": True}) as r:
            assert r.status == 200
            await r.read()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, i) for i in range(BURST)))


def _queue_histogram(metrics: str) -> tuple[float, float]:
    """(count, sum) of vllm:request_queue_time_seconds."""
    found = dict(re.findall(r"^vllm:request_queue_time_seconds_(count|sum)\{[^}]*\} (\S+)$",
                            metrics, re.M))  # fmt: skip
    return float(found["count"]), float(found["sum"])


def _rows_when_written(truth: Path, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(rows := truth_rows(truth)) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(rows) == n
    return list(rows.values())


@pytest.mark.parametrize("profile_name", builtin_names())
def test_queue_waits_are_never_negative(
    profile_name: str, sim_server: SimFactory, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    with sim_server(profile_name, "--truth", str(truth), "--time-scale", BURST_SCALE) as sim:
        asyncio.run(_burst(sim.url))
        rows = _rows_when_written(truth, BURST)  # the server books a request after its body
        with urllib.request.urlopen(sim.url + "/metrics", timeout=10) as resp:
            count, sum_s = _queue_histogram(resp.read().decode())
    for row in rows:
        stamps = [row[k] for k in ("arrival_mono_ns", "admitted_mono_ns", "first_token_mono_ns")]
        stamps += [row["last_token_mono_ns"], row["end_mono_ns"]]
        assert stamps == sorted(stamps), row
        assert row["queue_wait_ns"] >= 0, row
    # the histogram holds exactly the truth's waits, so it holds no negative one either
    assert count == len(rows)
    assert sum_s == pytest.approx(sum(r["queue_wait_ns"] for r in rows) / 1e9, rel=1e-9, abs=1e-9)
