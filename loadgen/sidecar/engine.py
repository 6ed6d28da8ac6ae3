"""Engine-side state: vLLM's Prometheus /metrics, Ollama's /api/ps and the simulator's /sim/gpu.

The parsers are pure (text or JSON in, samples out); `EngineScraper` does the HTTP, with
urllib in plain threads so this process never touches gevent.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadgen.records import EngineSample, GpuSample

# vLLM sample name -> EngineSample field. Values are summed over label sets (models, engines).
# `gpu_cache_usage_perc` is the pre-V1 name of `kv_cache_usage_perc`; both are 0..1 ratios.
_VLLM_FIELDS: dict[str, str] = {
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_ratio",
    "vllm:num_preemptions_total": "preemptions_total",
}
# Counters worth keeping in `extra` (field name = the metric without its "vllm:" prefix).
_VLLM_EXTRA = (
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:num_requests_swapped",
    "vllm:cpu_cache_usage_perc",
)


class EngineFormatError(ValueError):
    """An engine endpoint answered with a body we cannot read."""


def parse_vllm_metrics(text: str, wall_unix_ns: int, engine: str = "vllm") -> EngineSample:
    """An EngineSample from vLLM's Prometheus text exposition.

    Counts are summed over label sets (models, data-parallel engines); ratios are averaged.
    """
    values: dict[str, list[float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name in _VLLM_FIELDS or s.name in _VLLM_EXTRA:
                    values.setdefault(s.name, []).append(float(s.value))
    except ValueError as exc:
        raise EngineFormatError(f"/metrics is not Prometheus text: {exc}") from exc
    if not values and "vllm:" not in text:
        raise EngineFormatError("/metrics has no vllm: metrics")
    merged = {
        name: sum(v) / len(v) if name.endswith("_perc") else sum(v) for name, v in values.items()
    }
    fields: dict[str, float] = {}
    for name, attr in _VLLM_FIELDS.items():
        if name in merged:
            fields.setdefault(attr, merged[name])
    return EngineSample(
        wall_unix_ns=wall_unix_ns,
        engine=engine,
        requests_running=fields.get("requests_running"),
        requests_waiting=fields.get("requests_waiting"),
        kv_cache_usage_ratio=fields.get("kv_cache_usage_ratio"),
        preemptions_total=fields.get("preemptions_total"),
        extra={name.removeprefix("vllm:"): merged[name] for name in _VLLM_EXTRA if name in merged},
    )


def parse_ollama_ps(body: Any, wall_unix_ns: int, engine: str = "ollama") -> EngineSample:
    """An EngineSample from Ollama's /api/ps: sizes summed over loaded models.

    CPU offload shows as model_size_vram_bytes < model_size_bytes.
    """
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise EngineFormatError("/api/ps has no 'models' list")
    size = size_vram = 0
    for model in body["models"]:
        if not isinstance(model, dict):
            raise EngineFormatError("/api/ps 'models' holds a non-object")
        size += _int(model.get("size"), "size")
        size_vram += _int(model.get("size_vram"), "size_vram")
    return EngineSample(
        wall_unix_ns=wall_unix_ns,
        engine=engine,
        model_size_bytes=size,
        model_size_vram_bytes=size_vram,
        extra={"models_loaded": float(len(body["models"]))},
    )


def parse_sim_gpu(body: Any, wall_unix_ns: int) -> tuple[str, list[GpuSample]]:
    """(engine kind, GPU samples with source="sim") from the simulator's /sim/gpu."""
    if not isinstance(body, dict) or not isinstance(body.get("gpus"), list):
        raise EngineFormatError("/sim/gpu has no 'gpus' list")
    gpus: list[GpuSample] = []
    for gpu in body["gpus"]:
        if not isinstance(gpu, dict):
            raise EngineFormatError("/sim/gpu 'gpus' holds a non-object")
        gpus.append(
            GpuSample(
                wall_unix_ns=wall_unix_ns,
                gpu_index=_int(gpu.get("index"), "index"),
                gpu_name=str(gpu.get("name", "sim")),
                vram_used_bytes=_int(gpu.get("vram_used_bytes"), "vram_used_bytes"),
                vram_total_bytes=_int(gpu.get("vram_total_bytes"), "vram_total_bytes"),
                vram_reserved_bytes=_opt_int(gpu.get("vram_reserved_bytes"), "vram_reserved_bytes"),
                gpu_util_pct=_opt_float(gpu.get("gpu_util_pct"), "gpu_util_pct"),
                power_w=_opt_float(gpu.get("power_w"), "power_w"),
                temperature_c=_opt_float(gpu.get("temperature_c"), "temperature_c"),
                source="sim",
            )
        )
    return str(body.get("engine", "sim")), gpus


def _num(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EngineFormatError(f"{name} is not a number: {value!r}")
    return float(value)


def _int(value: Any, name: str) -> int:
    return int(_num(value, name))


def _opt_int(value: Any, name: str) -> int | None:
    return None if value is None else _int(value, name)


def _opt_float(value: Any, name: str) -> float | None:
    return None if value is None else _num(value, name)


def base_url(engine_url: str) -> str:
    """The server root: an OpenAI base URL such as http://h:8000/v1 loses its /v1."""
    url = engine_url.rstrip("/")
    return url.removesuffix("/v1")


def http_get(url: str, timeout_s: float) -> tuple[int, bytes]:
    """(status, body) of a GET; connection problems raise OSError."""
    request = urllib.request.Request(url, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


def get_json(url: str, timeout_s: float) -> Any:
    """The JSON body of a 200 answer; anything else raises EngineFormatError or OSError."""
    status, body = http_get(url, timeout_s)
    if status != 200:
        raise EngineFormatError(f"{url} answered HTTP {status}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise EngineFormatError(f"{url} did not answer JSON") from exc
