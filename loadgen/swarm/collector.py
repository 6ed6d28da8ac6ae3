"""The master/local side of a run: every record lands here once, from this process or a worker.

It appends to requests.jsonl, feeds the live window, and keeps the records by level for the
exact end-of-run summary. Workers ship their records in batches (`Shipper`) with Locust's
custom messages, so the master writes the single requests.jsonl of a distributed run.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen.levels import LevelTracker
from loadgen.records import RequestRecord
from loadgen.results import RequestLog
from loadgen.swarm.progress import LiveWindow

RECORDS_MESSAGE = "loadgen_records"
STAGE_MESSAGE = "loadgen_stage"
PHASE_MESSAGE = "loadgen_phase"  # master -> workers, before a level's users: their phase window
FLUSH_MESSAGE = "loadgen_flush"  # master -> workers: stop your users, ship everything
FLUSHED_MESSAGE = "loadgen_flushed"  # worker -> master: all my records are on their way
HELLO_MESSAGE = "loadgen_hello"  # worker -> master at its test start: its worker id and clock
HEALTH_MESSAGE = "loadgen_health"  # worker -> master every interval: a HealthReport dict


class Collector:
    """Every record of the run that requests.jsonl holds, in arrival order, plus the level
    windows. The first record that cannot be written calls `on_write_error` with one line (the
    path and the error); from then on records are dropped, so the summary covers what was kept.
    """

    def __init__(self, run_id: str, results_dir: Path, warmup_s: float) -> None:
        self.run_id = run_id
        self.results_dir = results_dir
        self.log = RequestLog(results_dir)
        self.live = LiveWindow()
        self.tracker = LevelTracker(warmup_s)
        self.records: list[RequestRecord] = []
        self.on_write_error: Callable[[str], None] = lambda _line: None
        self._write_error_told = False

    def add(self, record: RequestRecord) -> None:
        if record.run_id != self.run_id:  # a worker started without --run-id
            record = dataclasses.replace(record, run_id=self.run_id)
        if not self.log.write(record):
            if self.log.error and not self._write_error_told:
                self._write_error_told = True
                self.on_write_error(self.log.error)
            return
        self.records.append(record)
        self.live.add(record)

    def add_shipped(self, batch: list[dict[str, Any]]) -> None:
        """A worker's batch of RequestRecord dicts."""
        for data in batch:
            self.add(RequestRecord.from_dict(data))

    def requests_by_worker(self) -> dict[str, int]:
        """How many records each worker delivered."""
        return dict(Counter(r.worker for r in self.records))

    def close(self) -> None:
        self.log.close()


class Shipper:
    """Worker side: batches this process's records and sends them to the master."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self._batch: list[dict[str, Any]] = []
        self.shipped = 0

    def add(self, record: RequestRecord) -> None:
        self._batch.append(record.to_dict())

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._runner.send_message(RECORDS_MESSAGE, batch)
            self.shipped += len(batch)
