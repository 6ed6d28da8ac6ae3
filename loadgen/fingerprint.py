"""A run's fingerprint: the GPU, engine, model, host, workload and client that make two runs
comparable.

Pure: the types, their JSON form (meta.json's `fingerprint`) and the differences between two
runs. Gathering it is `loadgen.run.fingerprint`'s job; any part it could not read is None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loadgen.flags import duration_text
from loadgen.mapping import build

T = TypeVar("T")
Value = str | int | float | bool | None
# Sections whose differences make a comparison misleading: `loadgen compare` warns about them.
# The others (GPU, engine, host, loadgen, client) are what a comparison usually sets out to vary.
WARNED_SECTIONS = ("workload", "model")


@dataclass(frozen=True, slots=True)
class GpuDevice:
    name: str
    vram_total_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """NVML on the client host: the driver, the CUDA version it supports, every GPU."""

    driver_version: str | None = None
    cuda_version: str | None = None  # the driver's (nvmlSystemGetCudaDriverVersion)
    devices: tuple[GpuDevice, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str | None = None  # the run's engine label: vllm, ollama, sim, unknown
    version: str | None = None  # as /version or /api/version reported it
    sim_profile: str | None = None  # --sim: the simulator profile that answered


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str | None = None
    max_model_len: int | None = None  # vLLM: /v1/models
    quantization_level: str | None = None  # Ollama: /api/show details
    parameter_size: str | None = None
    family: str | None = None
    num_ctx: int | None = None  # Ollama: /api/show parameters (None: the server's default)
    context_length: int | None = None  # Ollama: /api/show model_info <arch>.context_length


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The host the load generator ran on (the CLI process; --sidecar runs there too)."""

    role: str = "client"
    hostname: str | None = None
    os: str | None = None
    cpu_model: str | None = None
    cpu_logical_cores: int | None = None
    cpu_physical_cores: int | None = None
    ram_total_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    input_tokens: int | None = None
    output_tokens: int | None = None
    ignore_eos: bool | None = None
    min_tokens: int | None = None
    temperature: float | None = None
    turns: int | None = None
    seed: int | None = None
    dataset: str | None = None  # the path given (not compared: the hash is)
    dataset_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """How loadgen read the engine: the wire protocol, the HTTP client (--client) and, for the
    fast client, how finely it resolves the gaps between frames (--itl-resolution)."""

    api: str | None = None  # openai or ollama, as resolved
    transport: str | None = None  # --client: fast or openai
    itl_resolution_s: float | None = None  # the fast client's; None for openai


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """meta.json's `fingerprint`; `unavailable` says why a section is None (one line each)."""

    loadgen_version: str | None = None
    gpu: GpuInfo | None = None
    engine: EngineInfo | None = None
    model: ModelInfo | None = None
    host: HostInfo | None = None
    workload: WorkloadInfo | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    client: ClientInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """Inverse of `to_dict`; unknown keys are ignored, a section that is not an object is
        None."""
        gpu = _section(GpuInfo, data.get("gpu"))
        if gpu is not None:
            devices = tuple(
                _build(GpuDevice, d) for d in gpu.devices if isinstance(d, Mapping) and "name" in d
            )
            gpu = dataclasses.replace(gpu, devices=devices)
        unavailable = data.get("unavailable")
        return cls(
            loadgen_version=data.get("loadgen_version"),
            gpu=gpu,
            engine=_section(EngineInfo, data.get("engine")),
            model=_section(ModelInfo, data.get("model")),
            host=_section(HostInfo, data.get("host")),
            workload=_section(WorkloadInfo, data.get("workload")),
            unavailable=dict(unavailable) if isinstance(unavailable, Mapping) else {},
            client=_section(ClientInfo, data.get("client")),
        )

    def flat(self) -> dict[str, Value]:
        """Every known value under a dotted name ("workload.output_tokens"), in a fixed order;
        the GPUs as one `gpu.devices` line ("2 x NVIDIA H100 80GB HBM3, 85.5 GB")."""
        out: dict[str, Value] = {"loadgen.version": self.loadgen_version}
        if self.gpu is not None:
            out["gpu.devices"] = _devices(self.gpu.devices)
            out["gpu.driver_version"] = self.gpu.driver_version
            out["gpu.cuda_version"] = self.gpu.cuda_version
        for name in ("client", "engine", "model", "host", "workload"):
            section = getattr(self, name)
            if section is not None:
                for f in dataclasses.fields(section):
                    out[f"{name}.{f.name}"] = getattr(section, f.name)
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Difference:
    """One value that two runs' fingerprints hold differently."""

    key: str  # dotted, as in Fingerprint.flat
    base: Value
    other: Value

    @property
    def warned(self) -> bool:
        """A workload or model difference: the runs did not do the same work."""
        return self.key.split(".", 1)[0] in WARNED_SECTIONS

    def line(self, label: str, base_label: str) -> str:
        """'run B: workload.output_tokens 128 vs 256 in run A'."""
        other, base = value_text(self.key, self.other), value_text(self.key, self.base)
        return f"run {label}: {self.key} {other} vs {base} in run {base_label}"


# Not compared: where the dataset file lay (its hash is), and which host ran the client.
_NOT_COMPARED = ("workload.dataset", "host.hostname", "host.role")


def differences(base: Fingerprint, other: Fingerprint) -> list[Difference]:
    """Every key both fingerprints know and hold differently (unknown on either side is no
    difference: nothing says they differ)."""
    a, b = base.flat(), other.flat()
    return [
        Difference(key, a[key], b[key])
        for key in a
        if key in b and a[key] != b[key] and key not in _NOT_COMPARED
    ]


def value_text(key: str, value: Value) -> str:
    """A value as a table cell: bytes as decimal GB, seconds as typed ('2ms'), None as '-'."""
    if key.endswith("_bytes") and isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 1e9:.1f} GB"
    if key.endswith("_s") and isinstance(value, float):
        return duration_text(value)
    return "-" if value is None else _text(value)


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _devices(devices: tuple[GpuDevice, ...]) -> str | None:
    if not devices:
        return None
    counts: dict[str, int] = {}
    for d in devices:
        size = f", {d.vram_total_bytes / 1e9:.1f} GB" if d.vram_total_bytes else ""
        counts[d.name + size] = counts.get(d.name + size, 0) + 1
    return "; ".join(f"{n} x {name}" if n > 1 else name for name, n in counts.items())


def _section(cls: type[T], data: Any) -> T | None:
    return _build(cls, data) if isinstance(data, Mapping) else None


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    if "devices" in data:  # a JSON list read back as the tuple the dataclass holds
        data = {**data, "devices": tuple(data["devices"] or ())}
    return build(cls, data)
