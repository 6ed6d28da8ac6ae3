"""Simulator profiles: engine model, step costs and simulated GPU, loaded from TOML.

Built-in profiles ship as `loadgen/sim/profiles/<name>.toml`; `--profile path.toml` accepts the
same keys. Every key is checked (unknown key, wrong type, bad value: one-line LoadgenError).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loadgen.errors import LoadgenError
from loadgen.flags import finite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROFILE_DIR = Path(__file__).parent / "profiles"
KV_BLOCK_TOKENS = 16  # vLLM's default block size

Scheduler = Literal["fifo", "continuous"]
EngineName = Literal["ollama", "vllm", "sim"]


@dataclass(frozen=True, slots=True)
class GpuModel:
    """Simulated GPU memory: used = weights + overhead + KV blocks in use + running sequences."""

    name: str = "Simulated GPU"
    vram_total_bytes: int = 24 * 1024**3
    weights_bytes: int = 0
    overhead_bytes: int = 0
    kv_block_bytes: int = 0  # bytes of one 16-token KV block
    seq_bytes: int = 0  # activations/workspace per running sequence
    reserve_bytes: int = 0  # vLLM: the whole pool is reserved up front (0 = same as used)
    vram_fraction: float = 1.0  # Ollama's partial CPU offload: /api/ps size_vram = size x this
    idle_power_w: float = 20.0
    max_power_w: float = 450.0
    idle_temperature_c: float = 35.0
    max_temperature_c: float = 75.0


@dataclass(frozen=True, slots=True)
class Profile:
    """One engine's behaviour. Times are in ms of simulated engine time (scaled by time_scale).

    Each scheduler step emits one token to every running sequence and lasts
    `step_base_ms + step_per_seq_ms * batch + prefill_per_token_ms * prompt tokens admitted`.
    """

    name: str
    engine: EngineName = "sim"
    scheduler: Scheduler = "continuous"
    model: str = "sim-model"
    max_running: int = 256  # vLLM max_num_seqs, or Ollama's parallel slots
    max_queue: int = 0  # waiting requests beyond this get 503 busy (0 = unbounded)
    kv_blocks: int = 0  # KV-cache budget in 16-token blocks (0 = unbounded)
    step_base_ms: float = 0.0
    step_per_seq_ms: float = 0.0
    prefill_per_token_ms: float = 0.0
    request_overhead_ms: float = 0.0  # API server + tokenizer time before the request is queued
    # True: the role-only first chat chunk goes out right after request_overhead_ms, before
    # queueing and prefill (`transformers serve`); False: with the first token, as vLLM does.
    early_role_chunk: bool = False
    # > 0: every stream gets its own token clock at this rate (sim/paced.py) instead of the step
    # model's shared steps; the step costs are then unused.
    stream_tok_s: float = 0.0
    eos_min_tokens: int = 32  # without ignore_eos, a seeded natural length in this range
    eos_max_tokens: int = 256
    max_model_len: int = 8192
    version: str = "0.0.0"  # what /version and /api/version report
    # Ollama's model residency (sim/residency.py): a request that finds the model unloaded
    # waits load_ms for it; an idle model unloads keep_alive_s after its last request
    # (OLLAMA_KEEP_ALIVE; negative: never). load_ms 0: always loaded.
    load_ms: float = 0.0
    keep_alive_s: float = -1.0
    tokens_per_frame: int = 1  # tokens joined into one streamed frame (1: a frame per token)
    gpu: GpuModel = field(default_factory=GpuModel)


_NAMES = {f.name: f for f in dataclasses.fields(Profile)}
_GPU_NAMES = {f.name: f for f in dataclasses.fields(GpuModel)}
_CHOICES: dict[str, tuple[str, ...]] = {
    "engine": ("ollama", "vllm", "sim"),
    "scheduler": ("fifo", "continuous"),
}


def builtin_names() -> list[str]:
    """Names of the profiles shipped with loadgen."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a TOML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise LoadgenError(f"profile file not found: {name_or_path}")
        default_name = path.stem
    else:
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(builtin_names())
            raise LoadgenError(f"unknown profile {name_or_path!r} (known: {known})")
        default_name = name_or_path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LoadgenError(f"bad profile file {path}: {exc}") from None
    return profile_from_dict(data, default_name, str(path))


def profile_from_dict(data: dict[str, Any], default_name: str, where: str = "profile") -> Profile:
    """Validate TOML data into a Profile (unknown keys and wrong types are errors)."""
    data = dict(data)
    gpu_data = data.pop("gpu", {})
    if not isinstance(gpu_data, dict):
        raise LoadgenError(f"{where}: [gpu] must be a table")
    kwargs = _checked(data, _NAMES, where)
    gpu_kwargs = _checked(gpu_data, _GPU_NAMES, f"{where} [gpu]")
    kwargs.setdefault("name", default_name)
    profile = Profile(**kwargs, gpu=GpuModel(**gpu_kwargs))
    _check_values(profile, where)
    return profile


def _checked(data: dict[str, Any], fields: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        f = fields.get(key)
        if f is None or key == "gpu":
            raise LoadgenError(f"{where}: unknown key {key!r}")
        out[key] = _typed(key, value, f.type, where)
    return out


def _typed(key: str, value: Any, type_name: str, where: str) -> Any:
    if type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = finite(float(value), f"{where}: {key}") if ok else value  # TOML has nan, inf
    else:  # str and the Literal names
        ok = isinstance(value, str) and value in _CHOICES.get(key, (value,))
    if not ok:
        expected = "|".join(_CHOICES[key]) if key in _CHOICES else type_name
        raise LoadgenError(f"{where}: {key} must be {expected}, got {value!r}")
    return value


def _check_values(p: Profile, where: str) -> None:
    numbers = {
        f.name: getattr(p, f.name)
        for f in dataclasses.fields(p)
        if isinstance(getattr(p, f.name), (int, float))
    }
    for key, value in numbers.items():
        if value < 0 and key != "keep_alive_s":  # negative keep_alive: never unload
            raise LoadgenError(f"{where}: {key} must be >= 0, got {value}")
    if p.max_running < 1:
        raise LoadgenError(f"{where}: max_running must be >= 1")
    if p.tokens_per_frame < 1:
        raise LoadgenError(f"{where}: tokens_per_frame must be >= 1")
    if not 0 < p.gpu.vram_fraction <= 1:
        raise LoadgenError(f"{where}: [gpu] vram_fraction must be in (0, 1]")
    if p.eos_min_tokens < 1 or p.eos_max_tokens < p.eos_min_tokens:
        raise LoadgenError(f"{where}: need 1 <= eos_min_tokens <= eos_max_tokens")
    if p.stream_tok_s and p.kv_blocks:
        raise LoadgenError(f"{where}: stream_tok_s (per-stream pacing) needs kv_blocks = 0")
    if p.kv_blocks and p.kv_blocks * KV_BLOCK_TOKENS < p.max_model_len:
        raise LoadgenError(f"{where}: kv_blocks must hold max_model_len tokens (16 per block)")
