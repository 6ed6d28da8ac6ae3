"""Locust plugin: loadgen's swarm events → InfluxDB, from the master and from every worker.

Event handlers only build a point and enqueue it; the sink's flusher runs as a greenlet.
Flags: --influx-url, --influx-flavour, ... (also INFLUX_*); unset URL = off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from locust import events as locust_events
from locust.runners import WorkerRunner

from loadgen import schema
from loadgen.errors import LoadgenError
from loadgen.records import RequestRecord
from loadgen.sinks.influx import InfluxSink, SinkReport
from loadgen.sinks.influx_http import preflight
from loadgen.sinks.influx_settings import ENV_VARS, FLAVOURS, SECRET_NAMES, InfluxSettings
from loadgen.sinks.influx_settings import settings_from as _settings_from
from loadgen.sinks.spool import SPOOL_NAME
from loadgen.swarm import events
from loadgen.swarm.session import worker_id

log = logging.getLogger("loadgen.influx")
CLOSE_TIMEOUT_S = 10.0


class InfluxListener:
    """The one sink of this process, started at test_start and closed when Locust quits."""

    def __init__(self) -> None:
        self.environment: Any = None
        self.sink: InfluxSink | None = None
        self.tags: dict[str, str] = {}
        self.final: SinkReport | None = None

    def settings(self) -> InfluxSettings | None:
        options = getattr(self.environment, "parsed_options", None)
        values = {name: getattr(options, f"influx_{name}", None) for name in ENV_VARS}
        return _settings_from(values, os.environ)

    def check(self) -> None:
        """Preflight on the master/local runner: exit 2 with one line before any load."""
        if isinstance(self.environment.runner, WorkerRunner):
            return
        try:
            settings = self.settings()
            if settings is not None:
                preflight(settings)
        except LoadgenError as exc:
            print(f"loadgen: error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)

    def start(self) -> InfluxSink | None:
        if self.sink is not None or self.environment is None:
            return self.sink
        settings = self.settings()
        if settings is None:
            return None
        try:
            settings = preflight(settings)
        except LoadgenError as exc:  # the master passed it: keep going, spill what fails
            log.error("InfluxDB preflight failed in this worker: %s", exc)
            settings = settings.with_flavour("v1" if settings.db else "v2")
        context = events.current_run()
        run_id = context.run_id if context else "unknown"
        results = Path(context.results_dir) if context else Path("results") / run_id
        if context is not None:
            self.tags = schema.run_tags(
                run_id, context.engine, context.model, context.api, context.user_class
            )
        self.sink = InfluxSink(settings, results / SPOOL_NAME, results / self._report_name())
        self.sink.start()
        return self.sink

    def _report_name(self) -> str:
        if isinstance(self.environment.runner, WorkerRunner):
            return f"influx-{re.sub(r'[^A-Za-z0-9_.-]', '_', worker_id())}.json"
        return "influx.json"

    def close(self) -> SinkReport | None:
        if self.sink is None:
            return self.final
        sink, self.sink = self.sink, None
        self.final = sink.close(CLOSE_TIMEOUT_S)
        if self.final.spilled or self.final.dropped or self.final.rejected:
            log.warning("InfluxDB: %s", _describe(self.final))
        return self.final

    def on_request(self, record: RequestRecord, **_kw: Any) -> None:
        sink = self.sink or self.start()
        if sink is not None:
            sink.write([schema.request_point(record, self.tags)])

    def on_interval(self, worker: str, wall_unix_ns: int, **kw: Any) -> None:
        sink = self.sink or self.start()
        if sink is not None:
            counts = {k: kw.get(k, 0) for k in ("requests", "errors", "output_tokens", "users")}
            point = schema.interval_point(
                self.tags, worker, wall_unix_ns, **counts, cpu_pct=float(kw.get("cpu_pct", 0.0))
            )
            sink.write([point])

    def on_stage(
        self, stage: Any, window_start_unix_ns: int, window_end_unix_ns: int, **_kw: Any
    ) -> None:
        sink = self.sink or self.start()
        if sink is not None:
            point = schema.stage_point(stage, self.tags, window_start_unix_ns, window_end_unix_ns)
            sink.write([point])

    def on_event(self, kind: str, text: str, wall_unix_ns: int, **_kw: Any) -> None:
        sink = self.sink or self.start()
        if sink is not None:
            sink.write([schema.event_point(self.tags, kind, text, wall_unix_ns)])


def _describe(report: SinkReport) -> str:
    return (
        f"{report.written} points written, {report.spilled} spilled to {report.spool_path}"
        f" (push with `loadgen replay`), {report.rejected} rejected, {report.dropped} dropped"
    )


listener = InfluxListener()


def report() -> SinkReport | None:
    """This process's counts: live while running, final after Locust has quit."""
    return listener.sink.report() if listener.sink is not None else listener.final


def _add_arguments(parser: Any, **_kw: Any) -> None:
    for name, env_var in ENV_VARS.items():
        parser.add_argument(
            f"--influx-{name}",
            dest=f"influx_{name}",
            env_var=env_var,
            default="auto" if name == "flavour" else "",
            choices=FLAVOURS if name == "flavour" else None,
            include_in_web_ui=False,
            is_secret=name in SECRET_NAMES,
            help=f"InfluxDB {name} (env {env_var}); see docs/influxdb.md",
        )


def _on_init(environment: Any, **_kw: Any) -> None:
    listener.environment = environment
    listener.check()


def _on_test_start(environment: Any, **_kw: Any) -> None:
    listener.environment = environment
    listener.start()


def _on_quitting(environment: Any, **_kw: Any) -> None:
    listener.close()


def _register() -> None:
    hooks: Any = locust_events  # Locust's EventHook.add_listener is untyped
    hooks.init_command_line_parser.add_listener(_add_arguments)
    hooks.init.add_listener(_on_init)
    hooks.test_start.add_listener(_on_test_start)
    hooks.quitting.add_listener(_on_quitting)
    ours: Any = events
    ours.llm_request.add_listener(listener.on_request)
    ours.llm_interval.add_listener(listener.on_interval)
    ours.llm_stage.add_listener(listener.on_stage)
    ours.llm_event.add_listener(listener.on_event)


_register()
