"""The results directory: requests.jsonl (one RequestRecord per line), summary.json, meta.json.

Plain file I/O; no locust import. Locust's own CSV stats land next to these (--csv prefix).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import IO, Any

from loadgen.records import RequestRecord

REQUESTS_FILE = "requests.jsonl"
SUMMARY_FILE = "summary.json"
META_FILE = "meta.json"
CSV_PREFIX = "locust"  # Locust writes locust_stats.csv, locust_failures.csv, ...
SECRET_FLAGS = ("--api-key", "--influx-token", "--influx-password")
REDACTED = "***"


def make_run_id(wall_unix_s: float | None = None, suffix: str | None = None) -> str:
    """'20261126-101530-ab12': UTC time of the start plus a short random suffix."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall_unix_s))
    return f"{stamp}-{suffix or secrets.token_hex(2)}"


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the value of every secret flag (`--api-key X`, `--api-key=X`) replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                out.append(f"{flag}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(arg)
    return out


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class RequestLog:
    """Appends RequestRecords to requests.jsonl; `flush()` makes them visible to readers."""

    def __init__(self, results_dir: Path) -> None:
        results_dir.mkdir(parents=True, exist_ok=True)
        self.path = results_dir / REQUESTS_FILE
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        self.count = 0

    def write(self, record: RequestRecord) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
        self.count += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
