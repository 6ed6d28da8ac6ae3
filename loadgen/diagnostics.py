"""Ollama's capacity traps, named from what a run recorded (docs/engine-insight.md): requests
refused as busy (OLLAMA_MAX_QUEUE), the parallel slots (OLLAMA_NUM_PARALLEL, loadgen/slots.py),
model reloads (keep_alive) and a model partly offloaded to the CPU (/api/ps).

Pure: records, level summaries and /api/ps readings in; summary.json's `diagnostics` out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadgen.mapping import build
from loadgen.records import RequestRecord
from loadgen.slots import SlotEstimate

RELOAD_LOAD_MS = 100.0  # a load_duration above this, after the run's first request, is a reload
BUSY_STATUS = 503
OFFLOAD_WARN_FRACTION = 1.0  # any share of the model off the GPU is worth a warning
# The llm_event kinds (Grafana annotations): one per finding, one per reload at its time.
FINDING_EVENT = "diagnostic"
RELOAD_EVENT = "model_reload"
MAX_RELOAD_MARKS = 200  # annotations of single reloads per run; the count stays exact


@dataclass(frozen=True, slots=True)
class LevelTraps:
    """One level's counts, over every request sent at the level (ramp included)."""

    stage_index: int
    users: int
    refused: int = 0  # HTTP 503 "server busy": the engine's queue was full
    reloads: int = 0  # load_duration > RELOAD_LOAD_MS after the run's first request


@dataclass(frozen=True, slots=True)
class Finding:
    """One trap that the run fell into, as one line (console, report, annotation)."""

    kind: str  # refused, parallel_slots, model_reload, cpu_offload
    text: str
    setting: str = ""  # the Ollama setting to look at, e.g. OLLAMA_MAX_QUEUE


@dataclass(frozen=True, slots=True)
class ModelResidency:
    """The model's memory as /api/ps reported it: `size` and the part in VRAM."""

    size_bytes: int
    size_vram_bytes: int
    wall_unix_ns: int | None = None

    @property
    def gpu_fraction(self) -> float:
        return self.size_vram_bytes / self.size_bytes if self.size_bytes > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """summary.json's `diagnostics`: the counts behind each finding, and the findings."""

    levels: tuple[LevelTraps, ...] = ()
    refused: int = 0
    reloads: int = 0
    parallel_slots: int | None = None  # ≈ OLLAMA_NUM_PARALLEL (None: not read)
    parallel_slots_at_least: int | None = None  # no level queued: a lower bound
    parallel_slots_source: str = ""  # queue_share or ttft_staircase
    model_size_bytes: int | None = None  # /api/ps, the reading with the least on the GPU
    model_size_vram_bytes: int | None = None
    gpu_fraction: float | None = None  # size_vram / size of that reading
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnostics:
        found = build(cls, data)
        levels = tuple(build(LevelTraps, lv) for lv in data.get("levels", ()))
        findings = tuple(build(Finding, f) for f in data.get("findings", ()))
        return dataclasses.replace(found, levels=levels, findings=findings)

    def lines(self) -> list[str]:
        """One console line per finding."""
        return [f"diagnostic: {f.text}" for f in self.findings]


def is_refused(record: RequestRecord) -> bool:
    """A 503 that says the server is busy (Ollama's queue is full)."""
    detail = (record.error_detail or "").lower()
    return record.http_status == BUSY_STATUS and "busy" in detail


def reload_times(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """The requests that waited for a model load: load_duration over RELOAD_LOAD_MS, except the
    run's first request (by send time), which may load the model for the first time."""
    timed = sorted((r for r in records if r.ollama is not None), key=lambda r: r.wall_send_unix_ns)
    return [r for r in timed[1:] if r.ollama and r.ollama.load_duration_ns / 1e6 > RELOAD_LOAD_MS]


def level_traps(
    records: Sequence[RequestRecord], levels: Iterable[tuple[int, int]]
) -> tuple[LevelTraps, ...]:
    """Refusals and reloads per level (index, users), by the level each request was sent in."""
    refused: dict[int, int] = {}
    reloads: dict[int, int] = {}
    for record in records:
        if is_refused(record):
            refused[record.stage_index] = refused.get(record.stage_index, 0) + 1
    for record in reload_times(records):
        reloads[record.stage_index] = reloads.get(record.stage_index, 0) + 1
    return tuple(
        LevelTraps(index, users, refused.get(index, 0), reloads.get(index, 0))
        for index, users in levels
    )


def least_on_gpu(readings: Iterable[ModelResidency]) -> ModelResidency | None:
    """The reading with the smallest share on the GPU (readings of no model are skipped)."""
    loaded = [r for r in readings if r.size_bytes > 0]
    return min(loaded, key=lambda r: r.gpu_fraction, default=None)


def _where(traps: Sequence[LevelTraps], count: str) -> str:
    parts = [
        f"{getattr(lv, count)} at level {lv.stage_index} ({lv.users} users)"
        for lv in traps
        if getattr(lv, count)
    ]
    return ", ".join(parts)


def findings(
    traps: Sequence[LevelTraps],
    slots: SlotEstimate | None,
    residency: ModelResidency | None,
    ollama: bool,
) -> tuple[Finding, ...]:
    """The lines worth printing; Ollama's settings are named when the target is Ollama."""
    out: list[Finding] = []
    refused = sum(lv.refused for lv in traps)
    if refused:
        raise_it = "; raise OLLAMA_MAX_QUEUE" if ollama else ""
        text = (
            f"{refused} requests refused as busy (HTTP 503, queue full): {_where(traps, 'refused')}"
        )
        out.append(Finding("refused", text + raise_it, "OLLAMA_MAX_QUEUE" if ollama else ""))
    if slots is not None and (slots.slots is not None or ollama):
        setting = " (OLLAMA_NUM_PARALLEL)" if ollama else ""
        text = slots.describe() + setting
        out.append(Finding("parallel_slots", text, "OLLAMA_NUM_PARALLEL" if ollama else ""))
    reloads = sum(lv.reloads for lv in traps)
    if reloads:
        text = (
            f"{reloads} model reloads (load_duration > {RELOAD_LOAD_MS:g} ms):"
            f" {_where(traps, 'reloads')}; the model was unloaded between requests: raise"
            " keep_alive (OLLAMA_KEEP_ALIVE, or the request's keep_alive)"
        )
        out.append(Finding("model_reload", text, "OLLAMA_KEEP_ALIVE"))
    if residency is not None and residency.gpu_fraction < OFFLOAD_WARN_FRACTION:
        text = (
            f"the model is partly on the CPU: {residency.gpu_fraction:.0%} of"
            f" {residency.size_bytes / 1e9:.2f} GB in VRAM (/api/ps size_vram < size); a"
            " model that spills to the CPU is slow: use a smaller quantization or context"
            " (num_ctx), or fewer parallel slots"
        )
        out.append(Finding("cpu_offload", text, "OLLAMA_NUM_PARALLEL"))
    return tuple(out)


def diagnose(
    records: Sequence[RequestRecord],
    levels: Iterable[tuple[int, int]],
    slots: SlotEstimate | None,
    residencies: Iterable[ModelResidency] = (),
    ollama: bool = False,
) -> Diagnostics:
    """Every trap of a run: `levels` are (index, users) of every level observed."""
    traps = level_traps(records, levels)
    worst = least_on_gpu(residencies)
    return Diagnostics(
        levels=traps,
        refused=sum(lv.refused for lv in traps),
        reloads=sum(lv.reloads for lv in traps),
        parallel_slots=slots.slots if slots else None,
        parallel_slots_at_least=slots.at_least if slots and slots.slots is None else None,
        parallel_slots_source=slots.source if slots else "",
        model_size_bytes=worst.size_bytes if worst else None,
        model_size_vram_bytes=worst.size_vram_bytes if worst else None,
        gpu_fraction=worst.gpu_fraction if worst else None,
        findings=findings(traps, slots, worst, ollama),
    )


def reload_marks(records: Sequence[RequestRecord]) -> list[tuple[int, str]]:
    """(wall time, text) of each reload for the timeline, at most MAX_RELOAD_MARKS."""
    marks = []
    for record in reload_times(records)[:MAX_RELOAD_MARKS]:
        load_ms = record.ollama.load_duration_ns / 1e6 if record.ollama else 0.0
        text = f"model reload: load_duration {load_ms:.0f} ms (level {record.stage_index})"
        marks.append((record.wall_send_unix_ns, text))
    return marks
