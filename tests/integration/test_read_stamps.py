"""A frame is stamped when it reached the socket, not when the process got round to reading it.

A real loopback server (a thread) sends the answer's first token and says so; the test then
holds the whole gevent loop, so the reader cannot have read that token yet, and takes a
perf_counter stamp. The token's stamp must come before it: the kernel's receive time. Stamping
after the read (the old way) puts it after. No timing bound: only the order of events.
"""

from __future__ import annotations

import socket
import threading
import time

import gevent
import gevent.socket
import pytest

from loadgen.backends.openai import OpenAIBackend
from loadgen.swarm.body_reader import KERNEL_STAMPS, BodyReader, ask_kernel_stamps
from loadgen.swarm.http_answer import Answer

_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(event: bytes) -> bytes:
    return b"%x\r\n" % len(event) + event + b"\r\n"


def _token(text: str, finish: str | None = None) -> bytes:
    reason = f'"{finish}"' if finish else "null"
    return _chunk(
        b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"%s"},"logprobs":null,"finish_reason":%s}]}\n\n'
        % (text.encode(), reason.encode())
    )


@pytest.mark.skipif(not KERNEL_STAMPS, reason="kernel receive stamps are Linux's")
def test_the_first_token_is_stamped_with_its_arrival_not_its_read() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    send_first, first_sent, go_on = threading.Event(), threading.Event(), threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)  # the request
            conn.sendall(_HEAD)
            send_first.wait(10)
            conn.sendall(_token(" hello"))
            first_sent.set()
            go_on.wait(10)
            conn.sendall(_token(".", "length") + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        sock = gevent.socket.create_connection(listener.getsockname(), timeout=10)
        assert ask_kernel_stamps(sock)
        answer = Answer(OpenAIBackend().parser())
        request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        exchange = gevent.spawn(BodyReader.shared().exchange, sock, request, answer, 10.0)
        gevent.sleep(0.05)  # the request goes out, the headers come back
        # From here on the loop is held (no gevent call): the token cannot be read before
        # held_ns, whatever the reader does.
        send_first.set()
        assert first_sent.wait(10)
        time.sleep(0.05)  # a real sleep: the whole loop, the reader included, is held
        held_ns = time.perf_counter_ns()
        # The token is read alone (a read's stamp is the arrival of its last packet), then
        # the rest is sent.
        deadline = time.monotonic() + 10
        while not answer.got_body and time.monotonic() < deadline:
            gevent.sleep(0.001)
        go_on.set()
        exchange.get(timeout=10)
        result = answer.parser.finish(answer.stamp_ns)
        sock.close()
    finally:
        send_first.set()
        go_on.set()
        listener.close()
        server.join(10)
    assert result.ok and result.text == " hello."
    assert result.t_first_ns is not None and result.t_first_ns < held_ns
    assert result.frame_times_ns[-1] > held_ns  # the last token came after the loop was freed
