"""Where a frame's CPU goes in loadgen's reader, one layer at a time, side by side in one run.

    python bench/reader_layers.py [--streams 128] [--frames 400] [--gap-ms 1.35] [--rounds 3]

A token server (this file with --serve, its own process) holds STREAMS keep-alive connections
and answers each request with FRAMES token chunks GAP_MS apart on every connection at once (the
simulator's fast profile at 128 streams writes about one frame per stream every 1.35 ms), so
the client's cost is the only one measured (getrusage of the client process, user + system).
Each layer runs the same rounds in a fresh client process:

- plain: one epoll, one recv per readable socket, a 2 ms sleep after a batch; no gevent, no
  parsing (bench/peers.py's "floor" client);
- gevent: the same loop in a greenlet, waiting on gevent's hub and sleeping with gevent.sleep;
- stamps: and recvmsg with the kernel receive stamp (SO_TIMESTAMPNS) decoded;
- parse: and every read fed to an `Answer` (HTTP, the token lane, the accumulator);
- reader: loadgen's `BodyReader.exchange` itself, one greenlet per stream.

It prints µs of CPU per frame per layer and the step from the layer before.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers_floor import TICK_S, read_ready  # bench/: the floor client's loop

ROOT = Path(__file__).resolve().parents[1]
_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_EVENT = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"sim",'
    b'"choices":[{"index":0,"delta":{%s},"logprobs":null,"finish_reason":%s}]}\n\n'
)
_REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
_END = b"0\r\n\r\n"
LAYERS = ("plain", "gevent", "stamps", "parse", "reader")


def _chunk(event: bytes) -> bytes:
    return b"%x\r\n" % len(event) + event + b"\r\n"


def serve(port_file: str, streams: int, frames: int, gap_s: float, rounds: int) -> None:
    token = _chunk(_EVENT % (b'"content":" word"', b"null"))
    last = _chunk(_EVENT % (b"", b'"length"')) + _chunk(b"data: [DONE]\n\n") + _END
    listener = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(listener.getsockname()[1]))
    conns = [listener.accept()[0] for _ in range(streams)]
    for conn in conns:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(rounds):
        for conn in conns:
            conn.recv(65536)
        for conn in conns:
            conn.sendall(_HEAD + token)
        due = time.perf_counter()
        for _ in range(frames - 1):
            due += gap_s
            time.sleep(max(0.0, due - time.perf_counter()))
            for conn in conns:
                conn.sendall(token)
        for conn in conns:
            conn.sendall(last)
    for conn in conns:
        conn.recv(1)  # until the client closes


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def client(layer: str, port: int, streams: int, rounds: int) -> float:
    """The client's CPU seconds for every round of its layer."""
    if layer == "plain":
        return _plain(port, streams, rounds)
    from gevent import monkey

    monkey.patch_all()
    import gevent.socket

    socks = [gevent.socket.create_connection(("127.0.0.1", port)) for _ in range(streams)]
    if layer == "reader":
        return _reader(socks, rounds)
    return _greenlet_loop(layer, socks, rounds)


def _plain(port: int, streams: int, rounds: int) -> float:
    import select

    socks = {}
    epoll = select.epoll()
    for _ in range(streams):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        epoll.register(sock.fileno(), select.EPOLLIN)
    start = _cpu_s()
    for _ in range(rounds):
        for sock in socks.values():
            sock.sendall(_REQUEST)
        left = set(socks)
        while left:
            ready = read_ready(epoll, socks)
            left.difference_update(fd for fd, data, _ in ready if data.endswith(_END))
            if ready:
                time.sleep(TICK_S)
    return _cpu_s() - start


def _greenlet_loop(layer: str, socks: list, rounds: int) -> float:  # type: ignore[type-arg]
    import struct

    import gevent
    from gevent.monkey import get_original

    from loadgen.backends.openai import OpenAIBackend
    from loadgen.swarm.http_answer import Answer

    epoll = get_original("select", "epoll")()
    raw = {sock.fileno(): sock._sock for sock in socks}
    for fd in raw:
        epoll.register(fd, 1)
        if layer != "gevent":
            raw[fd].setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    hub = gevent.get_hub()
    watcher = hub.loop.io(epoll.fileno(), 1)
    cmsg_bytes, timespec = socket.CMSG_SPACE(16), struct.Struct("@qq").unpack_from
    start = _cpu_s()
    for _ in range(rounds):
        answers = {fd: Answer(OpenAIBackend().parser()) for fd in raw}
        for sock in socks:
            sock.sendall(_REQUEST)
        left = set(raw)
        while left:
            hub.wait(watcher)
            while left:
                ready = epoll.poll(0)
                for fd, _ in ready:
                    try:
                        if layer == "gevent":
                            data = raw[fd].recv(65536)
                        else:
                            data, ancillary, _, _ = raw[fd].recvmsg(65536, cmsg_bytes)
                            stamp_ns = time.perf_counter_ns()
                            if ancillary:
                                seconds, nanoseconds = timespec(ancillary[0][2])
                                stamp_ns = min(stamp_ns, seconds * 10**9 + nanoseconds)
                    except BlockingIOError:
                        continue
                    if layer == "parse":
                        answers[fd].feed(data, stamp_ns)
                        if answers[fd].complete:
                            left.discard(fd)
                    elif data.endswith(_END):
                        left.discard(fd)
                if not ready:
                    break
                gevent.sleep(TICK_S)
    return _cpu_s() - start


def _reader(socks: list, rounds: int) -> float:  # type: ignore[type-arg]
    import gevent

    from loadgen.backends.openai import OpenAIBackend
    from loadgen.flags import ITL_RESOLUTION_S
    from loadgen.swarm.body_reader import BodyReader, ask_kernel_stamps
    from loadgen.swarm.http_answer import Answer

    for sock in socks:
        ask_kernel_stamps(sock)
    reader = BodyReader.shared()

    def user(sock: object) -> None:
        for _ in range(rounds):
            answer = Answer(OpenAIBackend().parser())
            reader.exchange(sock, _REQUEST, answer, 30.0)
            result = answer.parser.finish(answer.stamp_ns)
            frames = result.frame_times_ns
            reader.note_gap(result.t_first_ns, result.t_last_ns, len(frames), ITL_RESOLUTION_S)

    start = _cpu_s()
    gevent.joinall([gevent.spawn(user, sock) for sock in socks], raise_error=True)
    return _cpu_s() - start


def run_layer(layer: str, args: argparse.Namespace) -> float:
    """µs of client CPU per frame for one layer, against a fresh server."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        shape = ["--streams", str(args.streams), "--frames", str(args.frames)]
        shape += ["--gap-ms", str(args.gap_ms), "--rounds", str(args.rounds)]
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), *shape])
        try:
            deadline = time.monotonic() + 30
            while not (port_file.is_file() and port_file.read_text()):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("reader_layers: the token server did not start")
                time.sleep(0.01)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, __file__, "--client", layer, "--port", port_file.read_text()]
            cmd += ["--streams", str(args.streams), "--rounds", str(args.rounds)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                raise SystemExit(f"reader_layers: {layer} failed: {out.stderr.strip()[-300:]}")
            cpu_s = float(out.stdout.strip().splitlines()[-1])
        finally:
            server.wait(30)
    return 1e6 * cpu_s / (args.streams * args.frames * args.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--streams", type=int, default=128)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--gap-ms", type=float, default=1.35)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=LAYERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.streams, args.frames, args.gap_ms / 1000, args.rounds)
        return
    if args.client:
        print(client(args.client, args.port, args.streams, args.rounds))
        return
    print(f"{args.streams} streams x {args.frames} frames {args.gap_ms:g} ms apart, "
          f"{args.rounds} rounds; client CPU per frame (user + system)")  # fmt: skip
    before = None
    for layer in LAYERS:
        us = run_layer(layer, args)
        step = "" if before is None else f"  {us - before:+.2f}"
        print(f"{layer:<8} {us:6.2f} us{step}")
        before = us


if __name__ == "__main__":
    main()
