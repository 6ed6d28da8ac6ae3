"""How a Locust process ends a run early: Ctrl-C, or a results file that cannot be written.

Python raises KeyboardInterrupt in whichever greenlet runs when SIGINT arrives: a user in the
middle of a request would leave no record, and a second Ctrl-C could cut the writing of the
results short. Here SIGINT is a gevent signal handler: the first one ends the run the way
Locust's own Ctrl-C does, every later one is ignored while the results are written.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import gevent

INTERRUPTED = "interrupted (SIGINT)"
WORKER_ALONE_S = 5.0  # a worker's Ctrl-C: how long it waits for its master to end the run
PARENT_CHECK_S = 1.0  # a forked worker checks this often that the process it came from lives


def note(line: str) -> None:
    print(f"loadgen: {line}", file=sys.stderr, flush=True)


def _throw_into_main() -> None:
    """KeyboardInterrupt in the main greenlet, where Locust handles Ctrl-C (it stops the users,
    fires `quitting` and writes its files)."""
    main = gevent.get_hub().parent
    gevent.spawn(main.throw, KeyboardInterrupt)


def _ignore_sigint() -> None:
    """From `quitting` to the exit: a Ctrl-C would only kill the process mid-way through its
    files (gevent's handler is gone once the hub is torn down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class EarlyStop:
    """Ctrl-C before a run's own handler is in: while the process probes the target, checks the
    InfluxDB sink or a master binds. One line and exit 130 instead of a KeyboardInterrupt
    traceback from whichever call was under way. `cancel()` once RunStop or WorkerStop holds."""

    def __init__(self) -> None:
        self._watcher: Any = gevent.signal_handler(signal.SIGINT, self._fire)

    @staticmethod
    def _fire() -> None:
        note("interrupted before the run started: no load was sent")
        main = gevent.get_hub().parent
        gevent.spawn(main.throw, SystemExit(130))

    def cancel(self) -> None:
        self._watcher.cancel()


class RunStop:
    """The master's or local runner's early end; `reason` is summary.json's end_reason."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.reason = ""
        self._ending = False  # the run is quitting: its results are being written
        self._started = False  # a test started (a master may still be waiting for workers)

    def install(self) -> None:
        gevent.signal_handler(signal.SIGINT, lambda: self.cut_short(INTERRUPTED))
        self.environment.events.quitting.add_listener(self._on_quitting)
        self.environment.events.test_start.add_listener(self._on_test_start)
        runner = self.environment.runner
        locust_quit = runner.quit

        def quit_marked() -> None:
            self.ending()
            locust_quit()

        runner.quit = quit_marked

    def ending(self) -> None:
        """The run is quitting: a Ctrl-C from now on is ignored."""
        self._ending = True

    def cut_short(self, reason: str) -> None:
        """End the run now, as Ctrl-C does; the first reason is the one on record."""
        if self._ending:
            note("already stopping: writing the results")
            return
        self._ending = True
        if reason != INTERRUPTED or self._planned():
            self.reason = reason
        if not self._started and self._planned():  # a master still waiting for its workers
            note("interrupted before the run started: no load was sent")
            main = gevent.get_hub().parent
            gevent.spawn(main.throw, SystemExit(130))  # Locust's wait loop has no Ctrl-C path
            return
        _throw_into_main()

    def _on_test_start(self, **_: Any) -> None:
        self._started = True

    def _planned(self) -> bool:
        """A run with a planned end (headless, or the web UI's --autostart); in the web UI
        alone, Ctrl-C is how a session ends."""
        opts = self.environment.parsed_options
        return bool(getattr(opts, "headless", True) or getattr(opts, "autostart", False))

    def _on_quitting(self, **_: Any) -> None:
        self.ending()
        _ignore_sigint()


class WorkerStop:
    """A worker's Ctrl-C: its users stop and their records are shipped at once, then the master
    ends the run (it asks every worker for its last records, then tells them to quit). A worker
    whose master is elsewhere and did not hear the Ctrl-C quits on its own after
    WORKER_ALONE_S."""

    def __init__(self, runner: Any, ship: Callable[[], None]) -> None:
        self._runner = runner
        self._ship = ship
        self._stopping = False
        self._quitting = False

    def install(self, environment: Any) -> None:
        gevent.signal_handler(signal.SIGINT, self._on_sigint)
        environment.events.quitting.add_listener(self._on_quitting)

    def _on_sigint(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._runner.stop()  # the users' cut-off requests are recorded here
        self._ship()
        gevent.spawn_later(WORKER_ALONE_S, self._quit_alone)

    def _quit_alone(self) -> None:
        if not self._quitting:
            _throw_into_main()

    def _on_quitting(self, **_: Any) -> None:
        self._quitting = True
        _ignore_sigint()


def quit_when_orphaned(stop_users: Callable[[], None]) -> None:
    """A worker forked by `--processes` ends with the process that forked it: should that one
    be killed (SIGKILL, the OOM killer), its users stop and it quits within PARENT_CHECK_S
    instead of sending load until Locust's heartbeat timeout."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            gevent.sleep(PARENT_CHECK_S)
        note(f"the process that started this worker ({parent}) is gone: stopping")
        stop_users()
        _throw_into_main()

    gevent.spawn(watch)
