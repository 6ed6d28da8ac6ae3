"""Ground truth: one JSONL line per finished request, as the server saw it (times in ns)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from loadgen.errors import LoadgenError


@dataclass(slots=True)
class TruthRow:
    """One request's server-side timeline; `*_mono_ns` are this process's perf_counter_ns."""

    request_id: str
    route: str
    api: str
    status: int = 200
    fault: str | None = None
    arrival_mono_ns: int = 0
    admitted_mono_ns: int | None = None
    first_token_mono_ns: int | None = None  # after the first content frame was written
    last_token_mono_ns: int | None = None
    end_mono_ns: int | None = None
    queue_wait_ns: int | None = None  # entered the engine queue -> admitted to a step
    tokens_in: int = 0
    tokens_out: int = 0
    wall_arrival_unix_ns: int = 0
    error: str | None = None  # e.g. "client disconnected", "bad request: ..."

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TruthWriter:
    """Appends rows to a JSONL file, flushed per line so readers see them while it runs."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.rows_written = 0
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("w", encoding="utf-8")
            except OSError as exc:
                raise LoadgenError(f"cannot write truth file {path}: {exc.strerror}") from None

    def write(self, row: TruthRow) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(row.as_dict(), separators=(",", ":")) + "\n")
        self._file.flush()
        self.rows_written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
