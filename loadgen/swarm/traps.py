"""Ollama's capacity traps at the end of a run (loadgen/diagnostics.py), on the master/local runner.

/api/ps is read once when the run starts and again from every sidecar sample; refusals and
reloads come from the records, the slot count from the levels. Each finding becomes an
`llm_event` annotation at the run's end, each reload one at its request's send time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from loadgen.diagnostics import (
    FINDING_EVENT,
    RELOAD_EVENT,
    Diagnostics,
    ModelResidency,
    diagnose,
    reload_marks,
)
from loadgen.level_summary import LevelSummary
from loadgen.levels import Level
from loadgen.records import EngineSample, RequestRecord, SidecarSample
from loadgen.sidecar.engine import EngineFormatError, base_url, get_json, parse_ollama_ps
from loadgen.slots import level_loads, parallel_slots
from loadgen.swarm import events
from loadgen.swarm.context import RunContext

PS_TIMEOUT_S = 2.0


def is_ollama(context: RunContext) -> bool:
    """Ollama's settings and /api/ps apply (its native API, or an engine labelled Ollama)."""
    return context.api == "ollama" or context.engine == "ollama"


def residency(sample: EngineSample) -> ModelResidency | None:
    """A sidecar's /api/ps sample as a residency reading (None: not an /api/ps sample)."""
    size, in_vram = sample.model_size_bytes, sample.model_size_vram_bytes
    if size is None or in_vram is None:
        return None
    return ModelResidency(size, in_vram, sample.wall_unix_ns)


class TrapWatch:
    """Collects the /api/ps readings of a run and, at its end, diagnoses it."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.ollama = is_ollama(context)
        self.readings: list[ModelResidency] = []
        self.ps_error = ""

    def read_ps(self) -> None:
        """/api/ps once (run start): a failure only leaves the reading out."""
        if not self.ollama:
            return
        url = base_url(self.context.target) + "/api/ps"
        try:
            sample = parse_ollama_ps(get_json(url, PS_TIMEOUT_S), time.time_ns())
        except (OSError, EngineFormatError) as exc:
            self.ps_error = f"{url}: {exc}"
            return
        found = residency(sample)
        if found is not None:
            self.readings.append(found)

    def diagnose(
        self,
        records: Sequence[RequestRecord],
        levels: Sequence[Level],
        summaries: Sequence[LevelSummary],
        sidecar: Sequence[SidecarSample],
    ) -> Diagnostics:
        """The run's diagnostics; the slot count and /api/ps only for Ollama."""
        observed = [(lv.index, lv.users) for lv in levels]
        if not self.ollama:
            return diagnose(records, observed, None)
        slots = parallel_slots(level_loads(summaries))
        readings = [*self.readings]
        readings += [r for s in sidecar if isinstance(s, EngineSample) if (r := residency(s))]
        return diagnose(records, observed, slots, readings, ollama=True)


def annotate(diagnostics: Diagnostics, records: Sequence[RequestRecord], now_unix_ns: int) -> None:
    """Grafana annotations: each finding at the run's end, each reload at its time."""
    for finding in diagnostics.findings:
        events.llm_event.fire(kind=FINDING_EVENT, text=finding.text, wall_unix_ns=now_unix_ns)
    if diagnostics.reloads:
        for when, text in reload_marks(records):
            events.llm_event.fire(kind=RELOAD_EVENT, text=text, wall_unix_ns=when)
