"""The floor of a Python streaming client: the least a CPython process can do per frame.

    python bench/peers_floor.py URL STREAMS REQUESTS INPUT_TOKENS OUTPUT_TOKENS OUT.jsonl

Closed-loop streams on keep-alive sockets, one epoll for all of them, each readable socket read
once per wake-up with one recv, and after a wake-up that read something a sleep of TICK_S (loadgen's
reader's least tick by default) before the next poll. It parses nothing: an answer ends at
the last chunk's `0\\r\\n\\r\\n`, its first body bytes are taken as its first token (the vLLM
profiles send the role with the first token). No stats, no records but one line per request
(its id, send and first-bytes stamps) written at the end. bench/peers.py runs it as the client
"floor": what is left of loadgen's cost per token above it is what loadgen does per frame and
per request; what is below it no client written in Python reaches with one read per frame.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from urllib.parse import urlsplit

TICK_S = 0.002  # loadgen's default --itl-resolution (loadgen.flags.ITL_RESOLUTION_S)
_END = b"0\r\n\r\n"


def read_ready(
    epoll: select.epoll, socks: dict[int, socket.socket]
) -> list[tuple[int, bytes, int]]:
    """One wake-up: every readable socket read once, with one recv, each read stamped
    (perf_counter_ns) as it returns; after it, the caller sleeps TICK_S if anything was read.
    Waits at most a second for the first readable socket."""
    reads = []
    for fd, _ in epoll.poll(1.0):
        try:
            reads.append((fd, socks[fd].recv(65536), time.perf_counter_ns()))
        except BlockingIOError:
            continue
    return reads


def main() -> None:
    url, streams, requests, n_in, n_out, out = sys.argv[1:7]
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    body = json.dumps(
        {
            "model": "sim",
            "messages": [{"role": "user", "content": " ".join(["word"] * int(n_in))}],
            "max_tokens": int(n_out),
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    total, sent, done = int(requests), 0, 0
    epoll = select.epoll()
    socks: dict[int, socket.socket] = {}
    # fd -> [request index, send ns, first-bytes ns, headers read, last bytes]
    state: dict[int, list[int | bool | bytes | None]] = {}
    seen: list[tuple[str, int, int | None]] = []

    def send(fd: int) -> None:
        nonlocal sent
        rid = f"floor-{sent}"
        wire = (head + f"X-Request-ID: {rid}\r\n\r\n").encode() + body
        state[fd] = [sent, time.perf_counter_ns(), None, False, b""]
        sent += 1
        socks[fd].sendall(wire)

    for _ in range(min(int(streams), total)):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        epoll.register(sock.fileno(), select.EPOLLIN)
        send(sock.fileno())
    deadline = time.monotonic() + 600
    while done < total and time.monotonic() < deadline:
        ready = read_ready(epoll, socks)
        for fd, data, now in ready:
            st = state[fd]
            if st[2] is None:  # the first body bytes after the headers: the first token
                head_end = data.find(b"\r\n\r\n")
                if st[3]:  # the headers came in an earlier read
                    st[2] = now
                elif head_end >= 0:
                    st[3] = True
                    if head_end + 4 < len(data):
                        st[2] = now
            ended = data.endswith(_END) if len(data) >= len(_END) else (st[4] + data).endswith(_END)  # type: ignore[operator]
            st[4] = data[-len(_END) :]
            if ended:
                seen.append((f"floor-{st[0]}", st[1], st[2]))  # type: ignore[arg-type]
                done += 1
                if sent < total:
                    send(fd)
        if ready:
            time.sleep(TICK_S)
    with open(out, "w") as file:
        for rid, send_ns, first_ns in seen:
            file.write(json.dumps({"id": rid, "send_ns": send_ns, "first_ns": first_ns}) + "\n")


if __name__ == "__main__":
    main()
