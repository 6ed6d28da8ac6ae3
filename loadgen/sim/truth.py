"""Ground truth: one JSONL line per finished request, as the server saw it (times in ns), and
beside it (`scrapes_path`) one line per /metrics document served, so that a test can tell
which observations each scrape held."""

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
    # vLLM's request histograms (loadgen/sim/metrics.py), observed at `finished_mono_ns`
    prefill_ns: int | None = None  # admitted -> the step that produced token 1 ended
    decode_ns: int | None = None  # token 1 -> the last token, engine side
    e2e_ns: int | None = None  # arrival -> finished_mono_ns
    finished_mono_ns: int | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    wall_arrival_unix_ns: int = 0
    error: str | None = None  # e.g. "client disconnected", "bad request: ..."

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scrapes_path(path: Path) -> Path:
    """Where the /metrics documents of the truth file `path` are logged: t.jsonl ->
    t.scrapes.jsonl."""
    return path.with_name(f"{path.stem}.scrapes.jsonl")


def _open(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise LoadgenError(f"cannot write truth file {path}: {exc.strerror}") from None


class TruthWriter:
    """Appends rows to a JSONL file, flushed per line so readers see them while it runs."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._scrapes: IO[str] | None = None
        self.rows_written = 0
        if path is not None:
            self._file = _open(path)
            self._scrapes = _open(scrapes_path(path))

    def write(self, row: TruthRow) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(row.as_dict(), separators=(",", ":")) + "\n")
        self._file.flush()
        self.rows_written += 1

    def scraped(self, mono_ns: int, wall_unix_ns: int, user_agent: str) -> None:
        """A /metrics document was rendered at `mono_ns` (perf_counter_ns, as the rows' times):
        it holds every observation made before."""
        if self._scrapes is None:
            return
        line = {"mono_ns": mono_ns, "wall_unix_ns": wall_unix_ns, "user_agent": user_agent}
        self._scrapes.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._scrapes.flush()

    def close(self) -> None:
        for handle in (self._file, self._scrapes):
            if handle is not None:
                handle.flush()
                handle.close()
        self._file = self._scrapes = None
