"""`loadgen worker`'s view of its master: a name that does not resolve is bad input at once; a
master that does not answer yet is reported every WAIT_NOTICE_S while the worker waits."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from loadgen.errors import LoadgenError

WAIT_NOTICE_S = 10.0
CONNECT_TIMEOUT_S = 3.0


def resolve(host: str, port: int) -> None:
    """LoadgenError (exit 2) if `host` does not resolve to an address."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise LoadgenError(f"--master-host {host!r} does not resolve ({reason})") from None


def unreachable(host: str, port: int) -> str | None:
    """None if something listens on host:port, else why not (e.g. 'connection refused')."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return (exc.strerror or str(exc) or type(exc).__name__).lower()


@contextlib.contextmanager
def watching(host: str, port: int, say: Callable[[str], None]) -> Iterator[None]:
    """While the block runs and until the master first answers: `say` why it does not, at once
    and then every WAIT_NOTICE_S."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            reason = unreachable(host, port)
            if reason is None:
                return
            say(f"master {host}:{port} not reachable ({reason}); still waiting for it")
            done.wait(WAIT_NOTICE_S)

    thread = threading.Thread(target=watch, name="master-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
