"""The fast transport against a raw loopback server that splits chunked framing from the data.

Real servers (and TCP) may deliver a chunk-size line in one read and its data in the next; a
read that yields no body byte must not be taken for the end of the stream.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from loadgen.backends import backend_for
from loadgen.backends.base import ChatRequest
from loadgen.swarm.exchange import Exchange
from tests.fixtures.net import LOOPBACK
from tests.fixtures.sim import SimFactory

N_FRAMES = 5


def _frames(n: int = N_FRAMES) -> list[bytes]:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    out = [{**chunk, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(n)]
    out[-1]["choices"][0]["finish_reason"] = "length"
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": n}}
    return [f"data: {json.dumps(f)}\n\n".encode() for f in [*out, usage]] + [b"data: [DONE]\n\n"]


def _respond(conn: socket.socket) -> None:
    conn.recv(65536)  # the request (small, one read on loopback)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    conn.sendall(head + b"transfer-encoding: chunked\r\n\r\n")
    for frame in _frames():
        conn.sendall(f"{len(frame):x}\r\n".encode())  # the size line alone ...
        time.sleep(0.02)
        conn.sendall(frame + b"\r\n")  # ... then its data in a later read
        time.sleep(0.02)
    conn.sendall(b"0\r\n\r\n")


def _serve(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        _respond(conn)


def _serve_then_drop_keepalive(listener: socket.socket, fresh_ok: bool) -> None:
    """Serve one request, then close that kept-alive connection on the next one unanswered;
    answer on a new connection only if `fresh_ok`."""
    first, _ = listener.accept()
    with first:
        _respond(first)
        first.recv(65536)
    second, _ = listener.accept()
    with second:
        if fresh_ok:
            _respond(second)
        else:
            second.recv(65536)


@contextlib.contextmanager
def _server(target: Callable[..., None], *args: object) -> Iterator[str]:
    listener = socket.create_server((LOOPBACK, 0))
    thread = threading.Thread(target=target, args=(listener, *args), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"
    finally:
        thread.join(10)
        listener.close()


@pytest.fixture
def split_server() -> Iterator[str]:
    with _server(_serve) as url:
        yield url


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


def _two_requests(url: str) -> list[Exchange]:
    from loadgen.swarm.transport_fast import FastTransport

    transport = FastTransport(url, None, request_timeout_s=10, stall_timeout_s=5)
    request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},), max_tokens=5)
    out = [transport.send(backend_for("openai"), request, f"rid-{i}") for i in range(2)]
    transport.close()
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="the tick needs kernel receive stamps")
def test_the_transports_itl_resolution_is_the_readers_least_tick() -> None:
    """Five frames 40 ms apart would give a 4 ms tick (a quarter of the gap, at most 4 ms); an
    --itl-resolution of 30 ms is the floor under it."""
    from loadgen.swarm.body_reader import BodyReader
    from loadgen.swarm.transport_fast import FastTransport

    with _server(_serve) as url:
        transport = FastTransport(url, None, 10, 5, itl_resolution_s=0.03)
        request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
        exchange = transport.send(backend_for("openai"), request, "rid-tick")
        transport.close()
    assert exchange.result.ok, exchange.result.error_detail
    assert BodyReader.shared().tick_s == 0.03


@pytest.mark.skipif(sys.platform != "linux", reason="the tick needs kernel receive stamps")
def test_before_any_answer_has_ended_the_tick_is_the_resolution() -> None:
    """No gap is known while a process's first answer streams: the reader already ticks at
    --itl-resolution (frames closer than that may share a read, as later on), instead of
    reading every frame the moment it arrives. Sampled mid-answer (frames 40 ms apart)."""
    import gevent

    from loadgen.swarm.body_reader import BodyReader
    from loadgen.swarm.transport_fast import FastTransport

    BodyReader._shared = None  # a fresh reader: no answer has ended in it
    seen: list[float] = []
    with _server(_serve) as url:
        transport = FastTransport(url, None, 10, 5, itl_resolution_s=0.02)
        request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
        probe = gevent.spawn_later(0.1, lambda: seen.append(BodyReader.shared().tick_s))
        exchange = transport.send(backend_for("openai"), request, "rid-first")
        transport.close()
    assert exchange.result.ok, exchange.result.error_detail
    assert probe.dead and seen == [0.02]


def test_a_stale_keepalive_connection_is_retried_once_on_a_fresh_one() -> None:
    with _server(_serve_then_drop_keepalive, True) as url:
        first, second = _two_requests(url)
    assert first.result.ok and second.result.ok, second.result.error_detail
    assert second.result.n_out == N_FRAMES


def test_a_fresh_connection_closed_unanswered_is_a_connect_error() -> None:
    with _server(_serve_then_drop_keepalive, False) as url:
        first, second = _two_requests(url)
    assert first.result.ok
    assert not second.result.ok and second.result.error_type == "connect"
    assert second.http_status is None


SLOW_FRAMES, SLOW_GAP_S, SLOW_STALL_S = 20, 0.05, 0.5  # a 1 s stream, never silent for 0.5 s


def _serve_slowly(listener: socket.socket) -> None:
    """One answer whose frames come SLOW_GAP_S apart: longer in all than SLOW_STALL_S."""
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        conn.sendall(b"transfer-encoding: chunked\r\n\r\n")
        for frame in _frames(SLOW_FRAMES):
            conn.sendall(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            time.sleep(SLOW_GAP_S)
        conn.sendall(b"0\r\n\r\n")


def test_a_stream_longer_than_the_stall_timeout_is_no_stall() -> None:
    from loadgen.swarm.transport_fast import FastTransport

    with _server(_serve_slowly) as url:
        transport = FastTransport(url, None, request_timeout_s=30, stall_timeout_s=SLOW_STALL_S)
        request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
        exchange = transport.send(backend_for("openai"), request, "rid-slow")
        transport.close()
    assert exchange.result.ok, exchange.result.error_detail
    assert exchange.result.n_out == SLOW_FRAMES


STALL_S = 0.3  # the stall timeout of the next two tests


def _serve_stall_then_slow_head(listener: socket.socket) -> None:
    """First answer: two frames, then silence past STALL_S (a stall). Second request, on a new
    connection: its headers come after 2 x STALL_S (slow, but within the request timeout), then
    the whole answer."""
    first, _ = listener.accept()
    with first:
        first.recv(65536)
        first.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        first.sendall(b"transfer-encoding: chunked\r\n\r\n")
        for frame in _frames()[:2]:
            first.sendall(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
        time.sleep(3 * STALL_S)
    second, _ = listener.accept()
    with second:
        second.recv(65536)
        time.sleep(2 * STALL_S)
        _send_whole(second)
        second.recv(65536)  # a third request on the kept-alive connection: slow head again
        time.sleep(2 * STALL_S)
        _send_whole(second)


def _send_whole(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
    conn.sendall(b"transfer-encoding: chunked\r\n\r\n")
    for frame in _frames():
        time.sleep(0.01)  # the body after the head: streamed, the stall timeout armed
        conn.sendall(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


def test_a_stall_mid_stream_then_slow_heads_on_the_kept_alive_connection() -> None:
    """The stall timeout bounds the gaps after the first frame only: a head that takes longer
    than it (but not the request timeout) is no stall, also on a connection that streamed."""
    from loadgen.swarm.transport_fast import FastTransport

    with _server(_serve_stall_then_slow_head) as url:
        transport = FastTransport(url, None, request_timeout_s=10, stall_timeout_s=STALL_S)
        request = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},))
        out = [transport.send(backend_for("openai"), request, f"rid-{i}") for i in range(3)]
        transport.close()
    stalled, slow, slow_again = (e.result for e in out)
    assert not stalled.ok and stalled.error_type == "stall", stalled.error_detail
    assert len(stalled.frame_times_ns) == 2
    assert slow.ok and slow.n_out == N_FRAMES, slow.error_detail
    assert slow_again.ok and slow_again.n_out == N_FRAMES, slow_again.error_detail


# Each transport's request in a greenlet that a run's end kills mid-stream (as Locust kills its
# users), in a process patched as Locust's is; prints what `cut_off` kept, as JSON.
_CUT = """
from gevent import monkey
monkey.patch_all()
import json, sys, time
import gevent
from loadgen.backends import backend_for
from loadgen.backends.base import ChatRequest
from loadgen.swarm.transport_fast import FastTransport
from loadgen.swarm.transport_openai import OpenAISdkTransport
request = ChatRequest(model="sim-paced", messages=({"role": "user", "content": "hi"},),
                      max_tokens=40, ignore_eos=True)
out = {}
for name, kind in (("fast", FastTransport), ("openai", OpenAISdkTransport)):
    transport = kind(sys.argv[1], None, 10.0, 5.0)
    sender = gevent.spawn(transport.send, backend_for("openai"), request, "rid-cut-" + name)
    gevent.sleep(float(sys.argv[2]))
    sender.kill()
    partial, status = transport.cut_off(time.perf_counter_ns())
    again = transport.cut_off(time.perf_counter_ns())
    transport.close()
    out[name] = {"status": status, "t_first": partial.t_first_ns is not None,
                 "frames": len(partial.frame_times_ns), "stamps_in_order":
                 list(partial.frame_times_ns) == sorted(partial.frame_times_ns),
                 "again": [again[0].t_first_ns, len(again[0].frame_times_ns), again[1]]}
print(json.dumps(out))
"""


@pytest.mark.parametrize("after_s", [0.6, 0.0])
def test_a_request_cut_off_mid_stream_keeps_what_came(
    sim_server: SimFactory, after_s: float
) -> None:
    """40 tokens at 20 tok/s: cut after 0.6 s, both transports keep the first token and the
    frames read so far (the run's end keeps them on record); cut before the answer, nothing."""
    with sim_server("paced", "--stream-tok-s", "20") as sim:
        done = subprocess.run(
            [sys.executable, "-c", _CUT, sim.url, str(after_s)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    for name, cut in json.loads(done.stdout).items():
        assert cut["again"] == [None, 0, None], name  # kept once: the request is gone
        if after_s:
            assert cut["status"] == 200 and cut["t_first"], (name, cut)
            assert 2 <= cut["frames"] < 40 and cut["stamps_in_order"], (name, cut)
        else:
            assert not cut["t_first"] and cut["frames"] == 0, (name, cut)
