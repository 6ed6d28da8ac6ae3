"""The InfluxDB sink of the sidecar: samples become `gpu`, `process`, `host`, `engine` points.

Notices become `llm_event` points (kind "sidecar") so dashboards can annotate them. Writing
only enqueues; `loadgen.sinks.influx.InfluxSink` batches, retries and spills to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from loadgen import schema
from loadgen.line_protocol import LinePoint
from loadgen.records import Notice, SidecarSample
from loadgen.results import SIDECAR_INFLUX_REPORT_FILE, SIDECAR_INFLUX_SPOOL_FILE
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_settings import InfluxSettings
from loadgen.summary import SinkReport

CLOSE_TIMEOUT_S = 1.0  # SIGTERM must end the sidecar within 2 s; the rest is spilled, not lost


class InfluxSampleSink:
    """Converts each tick's samples to points and hands them to a started InfluxSink."""

    def __init__(
        self, settings: InfluxSettings, results_dir: Path, run_id: str, engine: Callable[[], str]
    ) -> None:
        self._sink = InfluxSink(
            settings,
            results_dir / SIDECAR_INFLUX_SPOOL_FILE,
            results_dir / SIDECAR_INFLUX_REPORT_FILE,
        )
        self._run_id = run_id
        self._engine = engine  # the engine tag, known once the scraper has detected it
        self.report: SinkReport | None = None

    def start(self) -> InfluxSampleSink:
        self._sink.start()
        return self

    def write(self, samples: Sequence[SidecarSample]) -> None:
        tags = {"run_id": self._run_id, "engine": self._engine()}
        points: list[LinePoint] = []
        for s in samples:
            if isinstance(s, Notice):
                points.append(schema.event_point(tags, "sidecar", s.message, s.wall_unix_ns))
            else:
                points += schema.sample_points(s, tags)
        self._sink.write(points)

    def close(self) -> None:
        self.report = self._sink.close(timeout_s=CLOSE_TIMEOUT_S)
