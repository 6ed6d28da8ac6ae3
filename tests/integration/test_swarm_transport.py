"""The fast transport against a raw loopback server that splits chunked framing from the data.

Real servers (and TCP) may deliver a chunk-size line in one read and its data in the next; a
read that yields no body byte must not be taken for the end of the stream.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from loadgen.backends import backend_for
from loadgen.backends.base import ChatRequest
from tests.fixtures.net import LOOPBACK

N_FRAMES = 5


def _frames() -> list[bytes]:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    out = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        for i in range(N_FRAMES)
    ]
    out[-1]["choices"][0]["finish_reason"] = "length"
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": N_FRAMES}}
    return [f"data: {json.dumps(f)}\n\n".encode() for f in [*out, usage]] + [b"data: [DONE]\n\n"]


def _serve(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)  # the request (small, one read on loopback)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        conn.sendall(head + b"transfer-encoding: chunked\r\n\r\n")
        for frame in _frames():
            conn.sendall(f"{len(frame):x}\r\n".encode())  # the size line alone ...
            time.sleep(0.02)
            conn.sendall(frame + b"\r\n")  # ... then its data in a later read
            time.sleep(0.02)
        conn.sendall(b"0\r\n\r\n")


@pytest.fixture
def split_server() -> Iterator[str]:
    listener = socket.create_server((LOOPBACK, 0))
    thread = threading.Thread(target=_serve, args=(listener,), daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"
    thread.join(10)
    listener.close()


def test_a_read_of_framing_alone_is_not_the_end_of_the_stream(split_server: str) -> None:
    from loadgen.swarm.transport_fast import FastTransport

    transport = FastTransport(split_server, None, request_timeout_s=10, stall_timeout_s=5)
    request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},), max_tokens=5)
    exchange = transport.send(backend_for("openai"), request, "rid-1")
    transport.close()
    assert exchange.http_status == 200
    assert exchange.result.ok, exchange.result.error_detail
    assert exchange.result.n_out == N_FRAMES and exchange.result.n_out_source == "usage"
    assert len(exchange.result.frame_times_ns) == N_FRAMES
