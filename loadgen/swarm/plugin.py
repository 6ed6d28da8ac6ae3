"""Wires loadgen into Locust: options, the per-process Session, record shipping, levels, progress.

Imported by every locustfile (`from loadgen.swarm import ChatUser`), so plain `locust -f
locustfiles/chat.py` gets the same flags and behaviour as `loadgen swarm`. Roles: a local runner
does everything; a worker sends requests and ships records; the master collects, tracks levels,
prints progress, writes files.
A worker builds its Session at its first user, after the master's options have arrived.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events as locust_events
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from loadgen import gc_pauses
from loadgen.errors import EXIT_BAD_INPUT, LoadgenError
from loadgen.results import make_run_id, prepare_results_dir
from loadgen.run.health import HealthBook, HealthReport
from loadgen.run.target import TargetInfo, probe
from loadgen.swarm import events, options
from loadgen.swarm import influx_listener as _influx  # noqa: F401  (its listeners: on import)
from loadgen.swarm.collector import (
    FLUSH_MESSAGE,
    FLUSHED_MESSAGE,
    HEALTH_MESSAGE,
    HELLO_MESSAGE,
    PHASE_MESSAGE,
    RECORDS_MESSAGE,
    STAGE_MESSAGE,
    Collector,
    Shipper,
)
from loadgen.swarm.conductor import CHILD_ENV, Conductor
from loadgen.swarm.events import RunContext
from loadgen.swarm.intervals import IntervalCounter
from loadgen.swarm.options import SwarmSettings
from loadgen.swarm.run_stop import EarlyStop, WorkerStop, quit_when_orphaned
from loadgen.swarm.session import LevelState, Session, worker_id

SHIP_INTERVAL_S = 1.0
DRAIN_TIMEOUT_S = 15.0  # how long the master waits for the workers' last records
_sessions: list[Session] = []
# Ctrl-C from the process's start until the run's own handler is in (cancelled in _on_init)
_early_stop = EarlyStop()
_installed: list[bool] = []
_stage = LevelState()


def _add_options(parser: Any, **_kwargs: Any) -> None:
    options.add_arguments(parser)  # every loadgen flag of Locust's side, from loadgen/flags.py


def session_for(environment: Any) -> Session:
    """The Session of this process, built on first use from the (possibly master's) options."""
    if not _sessions:
        _sessions.append(_build_session(environment)[0])
    return _sessions[0]


def _build_session(environment: Any) -> tuple[Session, TargetInfo]:
    settings = SwarmSettings.from_options(environment.parsed_options)
    try:
        context, info = _resolve(environment, settings)
    except LoadgenError as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
    events.set_run(context)
    return Session(environment, settings, context, _stage), info


def announce_phase(environment: Any, phase_s: float) -> None:
    """Users started from now on wait a random phase in [0, `phase_s`) before their first
    request: here, and on every worker (the message goes out before Locust's spawn messages)."""
    _stage.phase_s = phase_s
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.send_message(PHASE_MESSAGE, {"phase_s": phase_s})


def _user_class_name(environment: Any) -> str:
    names = sorted(cls.__name__ for cls in environment.user_classes or [])
    return ",".join(names) or "ChatUser"


def _resolve(environment: Any, settings: SwarmSettings) -> tuple[RunContext, TargetInfo]:
    host = (environment.host or "").rstrip("/")
    if not host:
        raise LoadgenError("no target: pass --host http://HOST:PORT")
    info = probe(host, settings.api, settings.model, settings.api_key or None)
    opts = environment.parsed_options
    run_id = opts.run_id or make_run_id()
    context = RunContext(
        run_id=run_id,
        target=info.host,
        engine=opts.engine or info.engine,
        model=info.model,
        api=info.api,
        user_class=_user_class_name(environment),
        results_dir=opts.results or os.path.join("results", run_id),
    )
    return context, info


def _on_init(environment: Any, runner: Any = None, web_ui: Any = None, **_kwargs: Any) -> None:
    if runner is None or environment.parsed_options is None:
        return
    locust_events.test_start.add_listener(lambda **_: gc_pauses.keep_full_collections_short())
    if isinstance(runner, WorkerRunner):
        _wire_worker(environment, runner)
        return
    session, info = _build_session(environment)
    _sessions[:] = [session]
    opts = environment.parsed_options
    opts.run_id = session.context.run_id  # the master owns the run: workers get its run_id
    results_dir = Path(session.context.results_dir)
    if os.environ.get(CHILD_ENV) != "1":  # `loadgen swarm` and `loadgen ui` checked it already
        _check_results_dir(results_dir, bool(opts.overwrite))
    collector = Collector(session.context.run_id, results_dir, opts.warmup)
    health = HealthBook(
        opts.saturation_cpu_pct, opts.saturation_intervals, opts.saturation_lag_ms, opts.interval
    )
    conductor = Conductor(environment, session, collector, info, health)
    conductor.install(web_ui)
    _early_stop.cancel()  # the run's own Ctrl-C handling holds from here
    if isinstance(runner, MasterRunner):
        runner.register_message(RECORDS_MESSAGE, lambda msg, **_: collector.add_shipped(msg.data))
        _hear_health(runner, conductor)
        _drain_before_quit(runner, conductor)
    else:
        events.llm_request.add_listener(lambda record, **_: collector.add(record))
        _count_intervals(environment).listeners.append(conductor.observe_health)


def _check_results_dir(results_dir: Path, overwrite: bool) -> None:
    try:
        prepare_results_dir(results_dir, overwrite)
    except LoadgenError as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)


def _hear_health(runner: Any, conductor: Conductor) -> None:
    """Master: each worker's hello (its id and clock) and interval reports."""

    def on_hello(msg: Any, **_: Any) -> None:
        data = msg.data
        conductor.health.hello(
            msg.node_id, str(data["worker"]), int(data["wall_unix_ns"]), time.time_ns()
        )

    def on_health(msg: Any, **_: Any) -> None:
        conductor.observe_health(HealthReport.from_dict(msg.data), time.time_ns(), msg.node_id)

    runner.register_message(HELLO_MESSAGE, on_hello)
    runner.register_message(HEALTH_MESSAGE, on_health)


def _count_intervals(environment: Any) -> IntervalCounter:
    counter = IntervalCounter(environment, worker_id())
    events.llm_request.add_listener(lambda record, **_: counter.add(record))
    locust_events.test_start.add_listener(lambda **_: counter.start())
    locust_events.test_stop.add_listener(lambda **_: counter.stop())
    return counter


def _drain_before_quit(runner: Any, conductor: Conductor) -> None:
    """Locust's master stops listening to workers 0.5 s after telling them to quit, which can
    drop their last records. Before quitting, ask every live worker to stop its users and ship
    everything, and wait for each one's acknowledgement (bounded); the silent ones are lost."""
    pending: set[str] = set()
    drained: list[bool] = []
    runner.register_message(FLUSHED_MESSAGE, lambda msg, **_: pending.discard(msg.node_id))
    locust_quit = runner.quit

    def drain() -> None:
        if drained:
            return
        drained.append(True)
        conductor.end_levels()  # before the workers cut their requests off
        pending.update(c.id for c in runner.clients.all if c.state != STATE_MISSING)
        if pending:
            runner.send_message(FLUSH_MESSAGE)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while pending and time.monotonic() < deadline:
            gevent.sleep(0.05)
            pending.intersection_update(c.id for c in runner.clients.all)  # quit: all shipped
        for node_id in pending:
            conductor.note_lost(node_id, f"sent no final records within {DRAIN_TIMEOUT_S:g} s")

    def quit_after_drain() -> None:
        conductor.run_stop.ending()  # a Ctrl-C from here on cannot cut the drain short
        drain()
        locust_quit()

    runner.quit = quit_after_drain
    conductor.before_summary = drain  # Ctrl-C in the web UI quits after the summary


def _wire_worker(environment: Any, runner: Any) -> None:
    shipper = Shipper(runner)
    me = worker_id()

    def hello(**_: Any) -> None:
        runner.send_message(HELLO_MESSAGE, {"worker": me, "wall_unix_ns": time.time_ns()})

    def report(health: HealthReport) -> None:
        runner.send_message(HEALTH_MESSAGE, health.to_dict())

    locust_events.test_start.add_listener(hello)
    events.llm_request.add_listener(lambda record, **_: shipper.add(record))

    def ship_forever() -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            shipper.flush()

    def on_stage(msg: Any, **_: Any) -> None:
        _stage.index, _stage.users = int(msg.data["index"]), int(msg.data["users"])
        _stage.rate_share = float(msg.data.get("rate_share", 1.0))
        _stage.rate_per_s = msg.data.get("rate_per_s")

    def on_phase(msg: Any, **_: Any) -> None:
        _stage.phase_s = float(msg.data["phase_s"])

    def on_flush(**_: Any) -> None:
        runner.stop()  # stops the users; test_stop ships their records
        shipper.flush()
        runner.send_message(FLUSHED_MESSAGE, {"records": shipper.shipped})

    WorkerStop(runner, shipper.flush).install(environment)
    _early_stop.cancel()
    if getattr(environment.parsed_options, "processes", None):  # forked by a local master
        quit_when_orphaned(runner.stop)
    runner.register_message(STAGE_MESSAGE, on_stage)
    runner.register_message(PHASE_MESSAGE, on_phase)
    runner.register_message(FLUSH_MESSAGE, on_flush, concurrent=True)
    locust_events.test_stop.add_listener(lambda **_: shipper.flush())
    locust_events.quitting.add_listener(lambda **_: shipper.flush())
    gevent.spawn(ship_forever)
    _count_intervals(environment).listeners.append(report)


def install() -> None:
    """Register loadgen's Locust parser arguments and listeners; once per process, however
    many locustfiles import loadgen (the InfluxDB listeners register on their module's import).
    """
    if _installed:
        return
    _installed.append(True)
    hooks: Any = locust_events  # Locust's EventHook.add_listener is untyped
    hooks.init_command_line_parser.add_listener(_add_options)
    hooks.init.add_listener(_on_init)


install()
