"""The master/local runner's side of a run: levels, live progress, llm_* events, result files.

Levels are observed, not assumed: a change of the runner's target user count starts a level,
Locust's spawning_complete marks its ramp done, and the next change (or the stop) ends it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any

import gevent
from locust.runners import MasterRunner

from loadgen.level_summary import LevelSummary
from loadgen.levels import Level, ResourceSeries
from loadgen.redact import redact_url
from loadgen.results import SUMMARY_FILE, SidecarTail, redact_argv, write_summary
from loadgen.run.health import SATURATED_TEXT, HealthBook, HealthReport, verdict_lines
from loadgen.run.plan import LevelRamp, expected_request_s
from loadgen.run.target import TargetInfo
from loadgen.summary import RunSummary
from loadgen.summary_table import format_table
from loadgen.swarm import events, finalize, webui
from loadgen.swarm.collector import STAGE_MESSAGE, Collector
from loadgen.swarm.progress import format_progress, progress_mode
from loadgen.swarm.run_stop import RunStop
from loadgen.swarm.server_scrape import ServerScrape
from loadgen.swarm.session import Session
from loadgen.swarm.settling import Settling
from loadgen.swarm.traps import TrapWatch, annotate

POLL_INTERVAL_S = 0.2
STAGE_GRACE_S = 1.5  # let workers' last record batches arrive before summarising a level
CHILD_ENV = "LOADGEN_CHILD"  # set by `loadgen swarm`: it prints the table itself
ARGV_ENV = "LOADGEN_COMMAND_ARGV"  # the loadgen command line (JSON list, secrets redacted)


class Conductor:
    """Owns the Collector; listens to Locust's lifecycle events on the master or local runner."""

    def __init__(
        self,
        environment: Any,
        session: Session,
        collector: Collector,
        info: TargetInfo,
        health: HealthBook | None = None,
    ) -> None:
        self.environment = environment
        self.session = session
        self.collector = collector
        self.info = info
        self.health = health or HealthBook()
        self.traps = TrapWatch(session.context)  # Ollama's capacity traps
        self.started_unix_ns: int | None = None
        self._started_mono = time.monotonic()
        self._summaries: dict[int, LevelSummary] = {}  # level index -> its one summary
        self._emitted: set[int] = set()
        self._sidecar = SidecarTail(collector.results_dir)
        self._greenlets: list[gevent.Greenlet] = []
        self._live_line = False
        self._finished = False
        self._sigterm: Any = None
        self._stopping = False  # between test_stopping and the next test_start: no new levels
        self.run_stop = RunStop(environment)
        self.before_summary: Any = lambda: None  # a master: collect the workers' last records
        self.settling = Settling(collector, self._sidecar, environment.parsed_options)
        self.server = ServerScrape(session.context.target, environment.parsed_options.interval)

    def install(self, web_ui: Any) -> None:
        ev = self.environment.events
        ev.test_start.add_listener(self._on_test_start)
        ev.spawning_complete.add_listener(self._on_spawning_complete)
        ev.test_stopping.add_listener(self._on_test_stopping)
        ev.test_stop.add_listener(self._on_test_stop)
        ev.quitting.add_listener(self._on_quitting)
        self.run_stop.install()
        self.collector.on_write_error = self._write_failed
        if hasattr(self.environment.shape_class, "expected_request_s"):  # StepShape
            self.environment.shape_class.expected_request_s = self.expected_request_s
        if hasattr(self.environment.shape_class, "level_done"):  # StepShape: auto levels
            self.environment.shape_class.level_done = self.settling.level_done
        if web_ui is not None:
            webui.install(self.environment, web_ui, self)

    # lifecycle -----------------------------------------------------------------------------
    def _on_test_start(self, **_: Any) -> None:
        now = time.time_ns()
        if self.started_unix_ns is None:
            self.started_unix_ns = now
            self._started_mono = time.monotonic()
            gevent.spawn(self.traps.read_ps)  # /api/ps as the run starts
        self._stopping = False
        events.llm_event.fire(kind="run_start", text=self._describe(), wall_unix_ns=now)
        self._greenlets = [
            gevent.spawn(self._poll),
            gevent.spawn(self._progress),
            gevent.spawn(self._watch_auto),
        ]
        self._catch_sigterm()

    def _catch_sigterm(self) -> None:
        """Headless with a shape, Locust installs its SIGTERM handler only after the shape has
        finished, so until then SIGTERM would kill it without results. Turn it into the
        KeyboardInterrupt Locust handles gracefully (in the main greenlet, like Ctrl-C)."""
        if self.environment.shape_class is None or not self.environment.parsed_options.headless:
            return
        if self._sigterm is None:
            main = gevent.get_hub().parent
            self._sigterm = gevent.signal_handler(
                signal.SIGTERM, lambda: main.throw(KeyboardInterrupt)
            )

    def _on_spawning_complete(self, user_count: int, **_: Any) -> None:
        """The level's last users are spawned; they all run once their phase is over."""
        self._observe()
        gevent.spawn(self.traps.read_ps)  # the model under load (loaded, whatever keep_alive)
        tracker = self.collector.tracker
        ramp = self._ramp_of(tracker.current)
        phase_ns = int(ramp.phase_s * 1e9) if ramp is not None else 0
        ramp_s = ramp.ramp_s if ramp is not None else 0.0
        tracker.ramp_done(int(user_count), time.time_ns() + phase_ns, ramp_s)
        self.server.follow(tracker.current)

    def _ramp_of(self, level: Level | None) -> LevelRamp | None:
        """The ramp the shape started `level` with (None without a shape: the web UI's)."""
        ramp_of = getattr(self.environment.shape_class, "ramp_of", None)
        if level is None or ramp_of is None:
            return None
        ramp: LevelRamp | None = ramp_of(level.index)
        return ramp

    def expected_request_s(self) -> float | None:
        """About one request's duration now: the median E2E of the running level's requests
        that ended in its window (since its start while it has none); the next level's
        automatic ramp."""
        level = self.collector.tracker.current
        if level is None:
            return None
        since = level.window_start_unix_ns or level.start_unix_ns
        return expected_request_s(self.collector.records, min(since, time.time_ns()))

    def _on_test_stopping(self, **_: Any) -> None:
        self.end_levels()

    def end_levels(self) -> None:
        """The stop decision, before the users are killed (here or on the workers): the last
        level's window ends here, so requests cut off by the stop never count in it."""
        self._stopping = True
        for level in self.collector.tracker.stop(time.time_ns()):
            self._level_closed(level)

    def _on_test_stop(self, **_: Any) -> None:
        now = time.time_ns()
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        self.server.stop()
        if self._sigterm is not None:  # Locust's own handler takes over from here
            self._sigterm.cancel()
            self._sigterm = None
        for level in self.collector.tracker.stop(now):
            self._level_closed(level)
        events.llm_event.fire(kind="run_end", text=self._describe(), wall_unix_ns=now)
        self._end_live_line()

    def _on_quitting(self, **_: Any) -> None:
        if self._finished:
            return
        self._finished = True
        self.before_summary()
        now = time.time_ns()
        for level in self.collector.tracker.stop(now):
            self._level_closed(level)
        for level in self.collector.tracker.levels:
            self._emit_level(level.index)
        self._end_live_line()
        self._note_lost_workers()
        meta = finalize.run_meta(
            self.session.context,
            self._argv(),
            self.info.version,
            self.started_unix_ns,
            now,
            _public_settings(self.session),
        )
        summary = finalize.run_summary(
            meta,
            self.collector.tracker.levels,
            self._summaries,
            len(self.collector.records),
            self.health.verdict(self.collector.requests_by_worker()),
            self.collector.records,
        )
        if self.run_stop.reason:
            summary = dataclasses.replace(summary, complete=False, end_reason=self.run_stop.reason)
        summary = self._diagnosed(summary, now)
        self.collector.close()
        try:
            write_summary(self.collector.results_dir, summary)
        except OSError as exc:
            where = self.collector.results_dir / SUMMARY_FILE
            line = f"cannot write {where}: {exc.strerror or exc}; the summary is lost"
            print(f"loadgen: error: {line}", file=sys.stderr, flush=True)
        for problem in self._sidecar.problems:  # those samples are missing from VRAM/RSS
            print(f"loadgen: sidecar samples ignored: {problem}", file=sys.stderr, flush=True)
        if os.environ.get(CHILD_ENV) != "1":
            print(format_table(summary), flush=True)
            for line in summary.diagnostics.lines() if summary.diagnostics else ():
                print(line, flush=True)
            print(f"results: {self.collector.results_dir}", flush=True)
            for line in verdict_lines(summary.generator):
                print(line, file=sys.stderr, flush=True)

    def _diagnosed(self, summary: RunSummary, now: int) -> RunSummary:
        """The summary with Ollama's capacity traps (loadgen/diagnostics.py), each annotated."""
        records = self.collector.records
        levels, sidecar = self.collector.tracker.levels, self._sidecar.read()
        found = self.traps.diagnose(records, levels, summary.levels, sidecar)
        annotate(found, records, now)
        return dataclasses.replace(summary, diagnostics=found)

    def _write_failed(self, line: str) -> None:
        """requests.jsonl cannot take a record: one line, and the run stops (exit code 1)."""
        print(f"loadgen: error: {line}; stopping the run", file=sys.stderr, flush=True)
        self.environment.process_exit_code = 1
        self.run_stop.cut_short(line)

    # levels --------------------------------------------------------------------------------
    def _poll(self) -> None:
        while True:
            self._observe()
            gevent.sleep(POLL_INTERVAL_S)

    def _note_lost_workers(self) -> None:
        """Workers Locust marked missing (no heartbeat for a few seconds) are lost."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            for node in runner.clients.missing:
                self.note_lost(node.id, "stopped sending heartbeats")

    def note_lost(self, node_id: str, reason: str) -> None:
        """A worker is gone: on record, and an `llm_event` annotation (once per worker)."""
        name = self.health.lose(node_id, reason)
        if name is not None:
            text = f"lost worker {name}: {reason}"
            events.llm_event.fire(kind="worker_lost", text=text, wall_unix_ns=time.time_ns())

    def observe_health(
        self, report: HealthReport, received_unix_ns: int | None = None, node_id: str = ""
    ) -> None:
        """A worker's interval report; the first one that makes it saturated is annotated."""
        if self.health.observe(report, received_unix_ns, node_id):
            text = f"{SATURATED_TEXT}: {report.worker}: {self.health.reason(report.worker)}"
            events.llm_event.fire(
                kind="generator_saturated", text=text, wall_unix_ns=time.time_ns()
            )

    def _observe(self) -> None:
        self._note_lost_workers()
        if self._stopping:
            return
        runner = self.environment.runner
        tracker = self.collector.tracker
        before = tracker.current
        for level in tracker.target(int(runner.target_user_count or 0), time.time_ns()):
            self._level_closed(level)
        current = tracker.current
        if current is not None and (before is None or current.index != before.index):
            self._level_started(current)

    def _level_started(self, level: Level) -> None:
        self.settling.level_started(level)
        self.session.stage.index, self.session.stage.users = level.index, level.users
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            share = 1.0 / max(1, runner.worker_count)
            data = {"index": level.index, "users": level.users, "rate_share": share}
            data["rate_per_s"] = self.session.stage.rate_per_s  # a capacity probe's --rate
            runner.send_message(STAGE_MESSAGE, data)
        text = f"level {level.index}: {level.users} users"
        events.llm_event.fire(kind="stage_start", text=text, wall_unix_ns=level.start_unix_ns)

    def _level_closed(self, level: Level) -> None:
        text = f"level {level.index}: {level.users} users"
        end = level.end_unix_ns or time.time_ns()
        events.llm_event.fire(kind="stage_end", text=text, wall_unix_ns=end)
        self.server.level_ended()
        gevent.spawn_later(STAGE_GRACE_S, self._emit_level, level.index)

    def _emit_level(self, index: int) -> None:
        if index in self._emitted:
            return
        self._emitted.add(index)
        self._settle(index)
        levels = self.collector.tracker.levels
        series = ResourceSeries.of(self._sidecar.read())
        self.server.wait()
        server = self.server.fields(levels[index])
        summary = finalize.level_summary(
            self.collector.records, levels[index], levels, series, server
        )
        if summary is None or summary.window_start_unix_ns is None:
            return
        self._summaries[index] = summary
        events.llm_stage.fire(
            stage=summary,
            window_start_unix_ns=summary.window_start_unix_ns,
            window_end_unix_ns=summary.window_end_unix_ns,
        )

    # steady windows ------------------------------------------------------------------------
    def _settle(self, index: int) -> None:
        """Judge a closed level: its window starts when it settled; an annotation says when,
        or that it never did."""
        tracker = self.collector.tracker
        level = tracker.levels[index]
        if level.end_unix_ns is None or level.steady is not None:
            return
        end = level.end_unix_ns
        verdict = self.settling.judge(level, end)
        level = tracker.judged(index, verdict.steady, verdict.start_unix_ns, verdict.reason)
        where = f"level {level.index}: {level.users} users"
        kind, text, when = "level_unsteady", f"{where} NOT steady: {verdict.reason}", end
        if verdict.steady and verdict.start_unix_ns is not None:
            kind, text = "level_steady", f"{where} steady: {verdict.reason}"
            when = verdict.start_unix_ns
        events.llm_event.fire(kind=kind, text=text, wall_unix_ns=when)

    def _watch_auto(self) -> None:
        """--step-time auto: every interval, whether the running level has measured enough
        (the shape asks `settling.level_done`). Records of workers may lag by STAGE_GRACE_S."""
        while self.settling.auto:
            gevent.sleep(self.settling.interval_s)
            level = self.collector.tracker.current
            if level is not None and not self._stopping:
                self.settling.check(level, time.time_ns() - int(STAGE_GRACE_S * 1e9))

    # progress ------------------------------------------------------------------------------
    def _progress(self) -> None:
        opts = self.environment.parsed_options
        mode = progress_mode(opts.progress, sys.stdout.isatty())
        if mode == "off":
            return
        period = 1.0 if mode == "live" else max(opts.interval, 0.5)
        while True:
            gevent.sleep(period)
            line = self.progress_line()
            if mode == "live":
                sys.stdout.write("\r" + line.ljust(100))
                self._live_line = True
            else:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def progress_line(self) -> str:
        elapsed_s = time.monotonic() - self._started_mono
        snap = self.collector.live.snapshot(time.time_ns())
        users = int(self.environment.runner.user_count)
        auto = self._auto_plan()
        return format_progress(users, snap, elapsed_s, self._time_left_s(elapsed_s), auto)

    def _auto_plan(self) -> bool:
        return bool(getattr(getattr(self.environment.shape_class, "plan", None), "auto", False))

    def _time_left_s(self, elapsed_s: float) -> float | None:
        shape = self.environment.shape_class
        plan = getattr(shape, "plan", None)
        if plan is not None and plan.auto:  # at most: every level at its cap
            return self.settling.time_left_s(len(plan.users), self.collector.tracker.current)
        if plan is not None:
            return float(plan.total_s) - float(shape.get_run_time())
        run_time = getattr(self.environment.parsed_options, "run_time", None)
        return float(run_time) - elapsed_s if run_time else None

    def _end_live_line(self) -> None:
        if self._live_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._live_line = False

    def _describe(self) -> str:
        c = self.session.context
        return f"{c.run_id} {c.api} {c.model} @ {redact_url(c.target)}"

    def _argv(self) -> list[str]:
        raw = os.environ.get(ARGV_ENV)
        argv = json.loads(raw) if raw else list(sys.argv)
        return redact_argv([str(a) for a in argv])


def _public_settings(session: Session) -> dict[str, Any]:
    """The run's settings for meta.json, without the API key."""
    settings = dataclasses.asdict(session.settings)
    settings.pop("api_key", None)
    return settings
