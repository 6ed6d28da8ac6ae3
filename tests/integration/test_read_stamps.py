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


@pytest.mark.skipif(not KERNEL_STAMPS, reason="the tick needs kernel receive stamps")
def test_a_first_token_is_read_while_streams_past_theirs_wait_for_the_tick() -> None:
    """Stream A is past its first token, stream B is not. With a tick far longer than the test,
    A's reader sleeps after reading A's second token; B's first token must still be read at
    once, while A's third token, which came before it, waits for the tick."""
    listener = socket.create_server(("127.0.0.1", 0))
    steps = {name: threading.Event() for name in ("a2", "a3_b1")}
    sent_a3 = threading.Event()

    def serve() -> None:
        conn_a, _ = listener.accept()
        conn_b, _ = listener.accept()
        with conn_a, conn_b:
            conn_a.recv(65536)
            conn_b.recv(65536)
            conn_a.sendall(_HEAD + _token(" one"))
            conn_b.sendall(_HEAD)
            steps["a2"].wait(10)
            conn_a.sendall(_token(" two"))
            steps["a3_b1"].wait(10)
            conn_a.sendall(_token(" three"))
            sent_a3.set()
            conn_b.sendall(_token(" first"))
            steps["a2"].wait(10)  # held open until the test is over

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    reader = BodyReader()  # the test's own: its tick must not touch the process's reader
    reader.tick_s = 30.0
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    answers = {name: Answer(OpenAIBackend().parser()) for name in ("a", "b")}
    socks, exchanges = [], []
    try:
        for name in ("a", "b"):
            sock = gevent.socket.create_connection(listener.getsockname(), timeout=10)
            assert ask_kernel_stamps(sock)
            socks.append(sock)
            exchanges.append(gevent.spawn(reader.exchange, sock, request, answers[name], 60.0))
            gevent.sleep(0.05)  # A is accepted first

        def frames(name: str) -> int:
            return answers[name].parser.accumulator.token_frames

        def wait_for(name: str, count: int) -> None:
            deadline = time.monotonic() + 10
            while frames(name) < count and time.monotonic() < deadline:
                gevent.sleep(0.001)

        wait_for("a", 1)
        steps["a2"].set()
        wait_for("a", 2)  # read by the ticked lane, which now sleeps for 30 s
        assert frames("a") == 2
        steps["a3_b1"].set()
        assert sent_a3.wait(10)
        wait_for("b", 1)
        assert frames("b") == 1  # B's first token was read ...
        assert frames("a") == 2  # ... while A's third, sent before it, waits for the tick
    finally:
        steps["a2"].set()
        steps["a3_b1"].set()
        gevent.killall([*exchanges, *reader._greenlets])
        for sock in socks:
            sock.close()
        listener.close()
        server.join(10)
