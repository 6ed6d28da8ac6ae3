"""Locust plugin: loadgen's swarm events → InfluxDB, from the master and from every worker.

Event handlers only enqueue a point's builder; the sink's flusher (a greenlet) builds and sends.
Flags: --influx-url, --influx-flavour, ... (also INFLUX_*; loadgen/flags.py); unset URL = off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import events as locust_events
from locust.runners import WorkerRunner

from loadgen import schema
from loadgen.errors import LoadgenError
from loadgen.flags import INFLUX_ENV_VARS
from loadgen.line_protocol import LinePoint
from loadgen.records import RequestRecord
from loadgen.results import INFLUX_SPOOL_FILE, influx_report_file
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_http import preflight
from loadgen.sinks.influx_settings import InfluxSettings
from loadgen.sinks.influx_settings import settings_from as _settings_from
from loadgen.summary import SinkReport
from loadgen.swarm import events
from loadgen.swarm.session import worker_id

log = logging.getLogger("loadgen.influx")
CLOSE_TIMEOUT_S = 10.0


class InfluxListener:
    """The one sink of this process. Preflight runs at init (master/local) or test_start
    (workers); the sink opens once the run context exists, and closes when Locust quits.
    Points made before that wait in `pending` (as builders, so they get the run's tags)."""

    def __init__(self) -> None:
        self.environment: Any = None
        self.settings: InfluxSettings | None = None
        self.sink: InfluxSink | None = None
        self.tags: dict[str, str] = {}
        self.pending: list[Callable[[], LinePoint]] = []
        self.final: SinkReport | None = None

    def configured(self) -> InfluxSettings | None:
        """Settings from the options (the master's, on a worker) and INFLUX_*; no I/O."""
        options = getattr(self.environment, "parsed_options", None)
        values = {name: getattr(options, f"influx_{name}", None) for name in INFLUX_ENV_VARS}
        return _settings_from(values, os.environ)

    def check(self) -> None:
        """Preflight: on the master/local runner a failure exits 2 with one line before any
        load; on a worker (the master passed it) it is logged and failed writes spill."""
        settings = None
        try:
            settings = self.configured()
            self.settings = preflight(settings) if settings is not None else None
        except LoadgenError as exc:
            if not isinstance(self.environment.runner, WorkerRunner):
                print(f"loadgen: error: {exc}", file=sys.stderr)
                sys.exit(exc.exit_code)
            log.error("InfluxDB preflight failed in this worker: %s", exc)
            if settings is not None:
                self.settings = settings.with_flavour("v1" if settings.db else "v2")

    def write(self, build: Callable[[], LinePoint]) -> None:
        """Hot path: enqueue the point's builder; the sink's flusher builds it (or keep it
        until the sink opens)."""
        if self.sink is None and not self._open():
            if self.settings is not None:
                self.pending.append(build)
            return
        assert self.sink is not None
        self.sink.write([build])

    def _open(self, fallback: bool = False) -> bool:
        context = events.current_run()
        if self.settings is None or self.environment is None or (context is None and not fallback):
            return False
        if context is not None:
            results = Path(context.results_dir)
            self.tags = schema.run_tags(
                context.run_id, context.engine, context.model, context.api, context.user_class
            )
        else:
            run_id = getattr(self.environment.parsed_options, "run_id", "") or "unknown"
            results = Path(getattr(self.environment.parsed_options, "results", "") or "results")
            results = results if results.name == run_id else results / run_id
        self.sink = InfluxSink(
            self.settings, results / INFLUX_SPOOL_FILE, results / self._report_name()
        )
        self.sink.start()
        pending, self.pending = self.pending, []
        self.sink.write(pending)
        return True

    def _report_name(self) -> str:
        if isinstance(self.environment.runner, WorkerRunner):
            return influx_report_file(re.sub(r"[^A-Za-z0-9_.-]", "_", worker_id()))
        return influx_report_file(None)

    def close(self) -> SinkReport | None:
        if self.sink is None and self.pending:
            self._open(fallback=True)
        if self.sink is None:
            return self.final
        sink, self.sink = self.sink, None
        self.final = sink.close(CLOSE_TIMEOUT_S)
        if self.final.spilled or self.final.dropped or self.final.rejected:
            log.warning("InfluxDB: %s", _describe(self.final))
        return self.final

    def on_request(self, record: RequestRecord, **_kw: Any) -> None:
        self.write(lambda: schema.request_point(record, self.tags))

    def on_interval(self, worker: str, wall_unix_ns: int, **kw: Any) -> None:
        counts = {k: int(kw.get(k, 0)) for k in ("requests", "errors", "output_tokens", "users")}
        cpu_pct = float(kw.get("cpu_pct", 0.0))
        lag_max, lag_p99 = kw.get("loop_lag_max_ms"), kw.get("loop_lag_p99_ms")
        self.write(
            lambda: schema.interval_point(
                self.tags,
                worker,
                wall_unix_ns,
                **counts,
                cpu_pct=cpu_pct,
                loop_lag_max_ms=lag_max,
                loop_lag_p99_ms=lag_p99,
            )
        )

    def on_stage(
        self, stage: Any, window_start_unix_ns: int, window_end_unix_ns: int, **_kw: Any
    ) -> None:
        self.write(
            lambda: schema.stage_point(stage, self.tags, window_start_unix_ns, window_end_unix_ns)
        )

    def on_event(self, kind: str, text: str, wall_unix_ns: int, **_kw: Any) -> None:
        self.write(lambda: schema.event_point(self.tags, kind, text, wall_unix_ns))


def _describe(report: SinkReport) -> str:
    return (
        f"{report.written} points written, {report.spilled} spilled to {report.spool_path}"
        f" (push with `loadgen replay`), {report.rejected} rejected, {report.dropped} dropped"
    )


listener = InfluxListener()


def report() -> SinkReport | None:
    """This process's counts: live while running, final after Locust has quit."""
    return listener.sink.report() if listener.sink is not None else listener.final


def _on_init(environment: Any, **_kw: Any) -> None:
    listener.environment = environment
    if not isinstance(environment.runner, WorkerRunner):
        listener.check()


def _on_test_start(environment: Any, **_kw: Any) -> None:
    listener.environment = environment
    if listener.settings is None:  # a worker: the master's options have just arrived
        listener.check()


def _on_quitting(environment: Any, **_kw: Any) -> None:
    listener.close()


def _register() -> None:
    hooks: Any = locust_events  # Locust's EventHook.add_listener is untyped
    hooks.init.add_listener(_on_init)
    hooks.test_start.add_listener(_on_test_start)
    hooks.quitting.add_listener(_on_quitting)
    ours: Any = events
    ours.llm_request.add_listener(listener.on_request)
    ours.llm_interval.add_listener(listener.on_interval)
    ours.llm_stage.add_listener(listener.on_stage)
    ours.llm_event.add_listener(listener.on_event)


_register()
