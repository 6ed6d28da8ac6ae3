"""Parsers of vLLM /metrics, Ollama /api/ps and /sim/gpu, on text recorded in the real formats."""

from __future__ import annotations

import pytest

from loadgen.sidecar.engine import (
    EngineFormatError,
    base_url,
    parse_ollama_ps,
    parse_sim_gpu,
    parse_vllm_metrics,
)

# The shape of vLLM V1's exposition: labelled gauges, counters with _total/_created, histograms.
VLLM_V1 = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4375
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
vllm:num_preemptions_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7e9
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 51234.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 40.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 50.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 50.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 3.2
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1234.0
"""

# vLLM V0 names the KV-cache gauge gpu_cache_usage_perc; two data-parallel engines.
VLLM_V0_TWO_ENGINES = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 4.0
vllm:num_requests_running{engine="1",model_name="m"} 6.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.2
vllm:gpu_cache_usage_perc{engine="1",model_name="m"} 0.6
"""

# Ollama's GET /api/ps, as documented: one model partly offloaded to CPU.
OLLAMA_PS = {
    "models": [
        {
            "name": "llama3.1:8b-instruct-q4_K_M",
            "model": "llama3.1:8b-instruct-q4_K_M",
            "size": 6_654_289_920,
            "digest": "46e0c10c039e019119339687c3c1757cc81b9da49709a3b3924863ba87ca666e",
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": "8.0B",
                "quantization_level": "Q4_K_M",
            },
            "expires_at": "2026-11-26T10:00:00.000000000Z",
            "size_vram": 5_400_000_000,
            "context_length": 4096,
        }
    ]
}


def test_vllm_v1_fields() -> None:
    s = parse_vllm_metrics(VLLM_V1, 99)
    assert (s.wall_unix_ns, s.engine) == (99, "vllm")
    assert (s.requests_running, s.requests_waiting) == (12.0, 3.0)
    assert s.kv_cache_usage_ratio == 0.4375
    assert s.preemptions_total == 7.0  # not polluted by the _created timestamp
    assert s.extra == {"generation_tokens_total": 51234.0}


def test_vllm_v0_name_and_label_sets_merge() -> None:
    s = parse_vllm_metrics(VLLM_V0_TWO_ENGINES, 0)
    assert s.requests_running == 10.0  # counts are summed
    assert s.kv_cache_usage_ratio == pytest.approx(0.4)  # ratios are averaged
    assert s.requests_waiting is None and s.preemptions_total is None


def test_not_vllm_metrics_is_a_format_error() -> None:
    with pytest.raises(EngineFormatError):
        parse_vllm_metrics("# TYPE up gauge\nup 1\n", 0)
    with pytest.raises(EngineFormatError):
        parse_vllm_metrics("vllm:num_requests_running{ 12 garbage\n", 0)


def test_ollama_ps_shows_cpu_offload() -> None:
    s = parse_ollama_ps(OLLAMA_PS, 7)
    assert (s.engine, s.model_size_bytes, s.model_size_vram_bytes) == (
        "ollama",
        6_654_289_920,
        5_400_000_000,
    )
    assert s.model_size_vram_bytes is not None and s.model_size_bytes is not None
    assert s.model_size_vram_bytes < s.model_size_bytes
    assert s.extra == {"models_loaded": 1.0}


def test_ollama_ps_nothing_loaded() -> None:
    s = parse_ollama_ps({"models": []}, 0)
    assert (s.model_size_bytes, s.model_size_vram_bytes) == (0, 0)


@pytest.mark.parametrize(
    "body", [[], {"models": "x"}, {"models": [{"size": "big", "size_vram": 1}]}, {}]
)
def test_ollama_ps_bad_bodies(body: object) -> None:
    with pytest.raises(EngineFormatError):
        parse_ollama_ps(body, 0)


def test_sim_gpu() -> None:
    body = {
        "engine": "vllm",
        "profile": "vllm-4090-llama8b",
        "gpus": [
            {
                "index": 0,
                "name": "Simulated RTX 4090",
                "vram_used_bytes": 16_100_000_000,
                "vram_total_bytes": 25_757_220_864,
                "vram_reserved_bytes": 300_000_000,
                "gpu_util_pct": 55.5,
                "power_w": 280.0,
                "temperature_c": 61.0,
            }
        ],
    }
    kind, (g,) = parse_sim_gpu(body, 5)
    assert kind == "vllm"
    assert (g.source, g.gpu_index, g.gpu_name, g.wall_unix_ns) == (
        "sim",
        0,
        "Simulated RTX 4090",
        5,
    )
    assert (g.vram_used_bytes, g.vram_total_bytes, g.vram_reserved_bytes) == (
        16_100_000_000,
        25_757_220_864,
        300_000_000,
    )
    assert (g.gpu_util_pct, g.power_w, g.temperature_c) == (55.5, 280.0, 61.0)
    assert g.energy_j is None and g.sm_clock_mhz is None


@pytest.mark.parametrize(
    "body",
    [
        {"gpus": [{"index": 0}]},
        {"gpus": [{"index": 0, "vram_used_bytes": True, "vram_total_bytes": 1}]},
        {"engine": "sim"},
        "text",
    ],
)
def test_sim_gpu_bad_bodies(body: object) -> None:
    with pytest.raises(EngineFormatError):
        parse_sim_gpu(body, 0)


def test_base_url_drops_openai_suffix() -> None:
    assert base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"
    assert base_url("http://h:11434") == "http://h:11434"
