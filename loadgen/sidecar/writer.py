"""The local-file sink: one JSON object per line in <results>/sidecar.jsonl."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from loadgen.errors import LoadgenError
from loadgen.sidecar.samples import Sample, to_line

SIDECAR_FILE = "sidecar.jsonl"


class SampleSink(Protocol):
    """Where samples go: JSONL here, InfluxDB through `loadgen.sinks`."""

    def write(self, samples: Sequence[Sample]) -> None:
        """Take one tick's samples; must not block for long."""

    def close(self) -> None:
        """Flush and release; bounded in time."""


class JsonlSink:
    """Appends each tick's samples and flushes, so a killed sidecar loses at most one tick."""

    def __init__(self, results_dir: Path, run_id: str) -> None:
        self.path = results_dir / SIDECAR_FILE
        self._run_id = run_id
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise LoadgenError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def write(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        text = "".join(json.dumps(to_line(s, self._run_id)) + "\n" for s in samples)
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()
