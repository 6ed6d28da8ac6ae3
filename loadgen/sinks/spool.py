"""The spool: line protocol that could not be delivered, appended to a file for `loadgen replay`.

Each batch is one `os.write` on an O_APPEND descriptor, so worker processes of one host can
share `results/<run_id>/influx-spool.lp` without interleaving lines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path


class Spool:
    """An append-only line-protocol file, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, body: bytes) -> None:
        """Append newline-terminated lines; raises OSError (disk full, ...) to the caller."""
        if not body:
            return
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            view = memoryview(body)
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_batches(path: Path, batch_points: int = 5000) -> Iterator[tuple[bytes, int]]:
    """The file's lines in batches of at most `batch_points`: (body, number of points).

    Blank lines and `#` comments are skipped; a last line without newline is kept.
    """
    lines: list[bytes] = []
    with path.open("rb") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            lines.append(line)
            if len(lines) >= batch_points:
                yield b"\n".join(lines) + b"\n", len(lines)
                lines = []
    if lines:
        yield b"\n".join(lines) + b"\n", len(lines)
