"""What the sidecar emits: the four record kinds plus notices, and their sidecar.jsonl lines.

One line per sample: `{"kind": ..., "run_id": ..., **dataclasses.asdict(sample)}`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from loadgen.records import EngineSample, GpuSample, HostSample, ProcessSample

NoticeSource = Literal["nvml", "process", "host", "engine", "sidecar"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A degradation worth knowing about: no GPU, an NVML error, an engine that exited."""

    wall_unix_ns: int
    source: NoticeSource
    message: str  # one line, for humans


Sample = GpuSample | ProcessSample | HostSample | EngineSample | Notice

KINDS: dict[str, type[Any]] = {
    "gpu": GpuSample,
    "process": ProcessSample,
    "host": HostSample,
    "engine": EngineSample,
    "notice": Notice,
}
_KIND_OF: dict[type[Any], str] = {cls: kind for kind, cls in KINDS.items()}


def kind_of(sample: Sample) -> str:
    """The `kind` value of a sample's line: gpu, process, host, engine or notice."""
    return _KIND_OF[type(sample)]


def to_line(sample: Sample, run_id: str) -> dict[str, Any]:
    """The JSON-ready dict of one sidecar.jsonl line."""
    return {"kind": kind_of(sample), "run_id": run_id, **dataclasses.asdict(sample)}


def from_line(line: dict[str, Any]) -> Sample | None:
    """Inverse of `to_line`; an unknown kind gives None, unknown keys are ignored."""
    cls = KINDS.get(str(line.get("kind")))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    sample: Sample = cls(**{k: v for k, v in line.items() if k in names})
    return sample
