"""RunContext: what every listener needs to label its output; no locust import, so pure code
(summaries, tests) can use it. `loadgen.swarm.events` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every listener needs to label its output; fixed for the whole run."""

    run_id: str
    target: str  # the engine's base URL
    engine: str  # "sim", "ollama", "vllm", ... or "unknown"
    model: str
    api: str  # "openai" or "ollama"
    user_class: str  # the scenario, e.g. "ChatUser"
    results_dir: str
