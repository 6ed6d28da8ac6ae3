"""loadgen's own Locust event hooks and the run context that listeners (sinks, sidecar) read.

Subscribe like Locust's own events: `llm_request.add_listener(fn)`; listeners take keyword args
and should accept `**kwargs` so that new arguments do not break them.
"""

from __future__ import annotations

from locust.event import EventHook

from loadgen.swarm.context import RunContext

__all__ = [
    "RunContext",
    "current_run",
    "llm_event",
    "llm_interval",
    "llm_request",
    "llm_stage",
    "set_run",
]

llm_request = EventHook()
"""Fired once per finished or failed request, in the process that made it (local or worker).

:param record: the `loadgen.records.RequestRecord` of the request
"""

llm_interval = EventHook()
"""Fired every `--interval` seconds (default 5) by every local or worker process.

:param worker: the process's worker id (hostname:pid)
:param wall_unix_ns: wall-clock time of the end of the interval
:param requests: requests finished in the interval (ok or failed)
:param errors: failed requests in the interval
:param output_tokens: sum of N_out of the interval's requests
:param users: users running in this process
:param cpu_pct: CPU use of this process over the interval (100 = one core)
:param loop_lag_max_ms: the event loop's worst lag in the interval (None: no sample)
:param loop_lag_p99_ms: its 99th percentile (a 100 ms sleep's overshoot, sampled 10 times/s)
"""

llm_stage = EventHook()
"""Fired on the master/local runner when a load level's steady window has ended.

:param stage: the `loadgen.summary.LevelSummary` of the level
:param window_start_unix_ns: wall-clock start of the steady window (after warmup)
:param window_end_unix_ns: wall-clock end of the steady window
"""

llm_event = EventHook()
"""Annotations on the master/local runner: run_start, run_end, stage_start, stage_end, and
worker_lost / generator_saturated (docs/scale-out.md), diagnostic / model_reload (Ollama's
capacity traps, docs/engine-insight.md).

:param kind: one of the kinds above
:param text: a short human-readable description
:param wall_unix_ns: when it happened
"""


_current: list[RunContext] = []


def set_run(context: RunContext) -> None:
    """Make `context` the current run (called once by the plugin at init)."""
    _current[:] = [context]


def current_run() -> RunContext | None:
    """The current run's context, or None before the plugin has initialised."""
    return _current[0] if _current else None
