"""Feed a recorded stream to a parser in chunks; the fake clock reads the byte offset."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from loadgen.backends import StreamResult, backend_for

STREAMS = Path(__file__).parent
_FRAME_END = re.compile(rb"\r\n\r\n|\n\n|\n")


def load(name: str) -> bytes:
    """The bytes of a recorded stream."""
    return (STREAMS / name).read_bytes()


def replay(api: str, data: bytes, chunk_size: int | None = None) -> StreamResult:
    """Feed `data` in chunks of `chunk_size` bytes (None: one chunk per frame); each chunk is
    stamped with the byte offset where it ends, so a frame's time is the offset of its end."""
    parser = backend_for(api).parser()
    for end, chunk in _chunks(data, chunk_size):
        parser.feed(chunk, end)
    return parser.finish(len(data) + 1)


def _chunks(data: bytes, chunk_size: int | None) -> list[tuple[int, bytes]]:
    if chunk_size is not None:
        return [
            (min(i + chunk_size, len(data)), data[i : i + chunk_size])
            for i in range(0, len(data), chunk_size)
        ]
    cuts = [m.end() for m in _FRAME_END.finditer(data)]
    if not cuts or cuts[-1] != len(data):
        cuts.append(len(data))
    starts = [0, *cuts[:-1]]
    return [(end, data[start:end]) for start, end in zip(starts, cuts, strict=True)]


def without_times(result: StreamResult) -> StreamResult:
    """The result with every timestamp cleared, to compare across chunkings."""
    return dataclasses.replace(
        result, t_first_ns=None, t_first_output_ns=None, t_last_ns=None, frame_times_ns=()
    )
