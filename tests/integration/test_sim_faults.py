"""`--faults`: each injected fault as a client sees it on the wire, and replayed from the seed."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.sim import SimFactory, SimServer

CHAT = {
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 8,
    "ignore_eos": True,
}


def raw_post(
    sim: SimServer, path: str, body: dict[str, object]
) -> tuple[bytes, BaseException | None]:
    """Send one request on a bare socket; return what arrived and how the reading ended."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    received = b""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
        sock.sendall(head + payload)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            return received, exc
    return received, None


def stream_body(
    sim: SimServer, path: str, body: dict[str, object]
) -> tuple[list[bytes], list[float]]:
    """The lines of a streamed body and the time each arrived (perf_counter seconds)."""
    req = urllib.request.Request(
        sim.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    lines, times = [], []
    with urllib.request.urlopen(req, timeout=10) as resp:
        for line in resp:
            if line.strip():
                lines.append(line.strip())
                times.append(time.perf_counter())
    return lines, times


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [
        ("http500=1", 500, "internal server error"),
        ("busy503=1", 503, "server busy"),
        ("rate429=1:2s", 429, "rate limit"),
    ],
)
def test_error_status_faults(sim_server: SimFactory, spec: str, status: int, message: str) -> None:
    with sim_server("fast", "--faults", spec) as sim:
        for path, stream in (("/v1/chat/completions", True), ("/api/chat", False)):
            req = urllib.request.Request(
                sim.url + path, data=json.dumps({**CHAT, "stream": stream}).encode()
            )
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=10)
            body = json.loads(info.value.read())
            text = body["error"] if path == "/api/chat" else body["error"]["message"]
            assert info.value.code == status and message in text
            if status == 429:
                assert info.value.headers["Retry-After"] == "2"


def test_reset_mid_stream(sim_server: SimFactory) -> None:
    with sim_server("fast", "--faults", "reset=1") as sim:
        for path in ("/v1/chat/completions", "/api/chat"):
            received, error = raw_post(sim, path, {**CHAT, "stream": True})
            assert isinstance(error, ConnectionResetError), (received, error)
            assert b"[DONE]" not in received and b'"done":true' not in received


def test_cut_ends_the_body_without_end_marker(sim_server: SimFactory) -> None:
    with sim_server("fast", "--faults", "cut=1") as sim:
        lines, _ = stream_body(sim, "/v1/chat/completions", {**CHAT, "stream": True})
        assert lines and lines[-1] != b"data: [DONE]" and len(lines) == 1 + 4  # role + half
        lines, _ = stream_body(sim, "/api/chat", {**CHAT, "options": {"num_predict": 8}})
        assert len(lines) == 4 and all(json.loads(x)["done"] is False for x in lines)


def test_malformed_frame_then_the_stream_goes_on(sim_server: SimFactory) -> None:
    with sim_server("fast", "--faults", "malformed=1") as sim:
        lines, _ = stream_body(sim, "/v1/chat/completions", {**CHAT, "stream": True})
        bad = []
        for line in lines[:-1]:
            try:
                json.loads(line.removeprefix(b"data: "))
            except ValueError:
                bad.append(line)
        assert len(bad) == 1 and lines[-1] == b"data: [DONE]"


def test_stall_pauses_the_stream(sim_server: SimFactory) -> None:
    with sim_server("fast", "--faults", "stall=1:1s") as sim:
        lines, times = stream_body(sim, "/api/chat", {**CHAT, "options": {"num_predict": 8}})
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert json.loads(lines[-1])["done"] is True
        assert max(gaps) >= 0.9 and gaps.index(max(gaps)) == 3  # after half of the 8 tokens


def _fault_sequence(sim_server: SimFactory, tmp_path: Path, seed: int) -> list[str | None]:
    truth = tmp_path / f"truth-{seed}-{time.monotonic_ns()}.jsonl"
    spec = "http500=0.2,busy503=0.1,rate429=0.1,malformed=0.1,cut=0.1"
    with sim_server("fast", "--faults", spec, "--seed", str(seed), "--truth", str(truth)) as sim:
        for _ in range(30):
            with contextlib.suppress(urllib.error.HTTPError):
                stream_body(sim, "/v1/chat/completions", {**CHAT, "stream": True})
    return [json.loads(line)["fault"] for line in truth.read_text().splitlines()]


def test_faults_replay_from_the_seed(sim_server: SimFactory, tmp_path: Path) -> None:
    first = _fault_sequence(sim_server, tmp_path, 7)
    assert len(first) == 30 and len(set(first)) >= 4
    assert _fault_sequence(sim_server, tmp_path, 7) == first
    assert _fault_sequence(sim_server, tmp_path, 8) != first


def test_client_that_goes_away_frees_its_slot(sim_server: SimFactory, tmp_path: Path) -> None:
    profile = tmp_path / "slow.toml"
    profile.write_text("step_base_ms = 20.0\nmax_running = 1\n")
    truth = tmp_path / "gone.jsonl"
    with sim_server(str(profile), "--truth", str(truth)) as sim:
        body = {**CHAT, "max_tokens": 500, "stream": True}
        req = urllib.request.Request(
            sim.url + "/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"x-request-id": "gone"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            for _ in range(3):
                resp.readline()
        # the next request can only run once the engine dropped the first one (one slot)
        follow = {**CHAT, "max_tokens": 2}
        reply = urllib.request.urlopen(
            urllib.request.Request(
                sim.url + "/v1/chat/completions", data=json.dumps(follow).encode()
            ),
            timeout=20,
        )
        assert json.loads(reply.read())["usage"]["completion_tokens"] == 2
    row = next(json.loads(x) for x in truth.read_text().splitlines() if '"gone"' in x)
    assert row["error"] == "client disconnected" and 0 < row["tokens_out"] < 500
