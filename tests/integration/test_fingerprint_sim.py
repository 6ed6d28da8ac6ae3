"""The run fingerprint against the simulator as a real server (vLLM's /v1/models, Ollama's
/api/show), a swarm run's meta.json, and `loadgen report` / `loadgen compare` showing it."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from loadgen.fingerprint import (
    EngineInfo,
    Fingerprint,
    GpuDevice,
    GpuInfo,
    ModelInfo,
    WorkloadInfo,
)
from loadgen.run.fingerprint import gather
from loadgen.run.target import TargetInfo, probe
from tests.fixtures.fake_nvml import FakeNvml
from tests.fixtures.net import loadgen_cmd
from tests.fixtures.results_dirs import write_run
from tests.fixtures.sim import SimFactory


def test_ollama_show_and_vllm_max_model_len(sim_server: SimFactory) -> None:
    with sim_server("ollama-4090-llama8b", "--models", "llama3.1:8b") as sim:
        info = probe(sim.url, "ollama", "", None)
        fp = gather(info, nvml=FakeNvml())
        request = urllib.request.Request(sim.url + "/api/show", data=b'{"model": "other"}')
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=5)
    assert fp.engine == EngineInfo("ollama", "0.6.8")
    assert fp.model == ModelInfo(
        "llama3.1:8b",
        quantization_level="Q4_K_M",
        parameter_size="8.0B",
        family="llama",
        num_ctx=4096,  # the profile's max_model_len: num_ctx per slot
        context_length=131072,
    )
    assert missing.value.code == 404
    assert json.loads(missing.value.read()) == {"error": "model 'other' not found"}
    with sim_server("vllm-4090-llama8b") as sim:
        info = probe(sim.url, "auto", "", None)
        vllm = gather(info, nvml=FakeNvml())
    assert vllm.model is not None and vllm.model.max_model_len == 8192
    assert vllm.model.quantization_level is None  # no /api/show asked of vLLM


def test_an_engine_that_answers_nothing_keeps_the_model_id() -> None:
    info = TargetInfo("http://127.0.0.1:9", "ollama", "llama3.1:8b", "ollama", {"version": "0.6"})
    fp = gather(info, nvml=FakeNvml(), timeout_s=0.5)  # port 9: refused at once
    assert fp.model == ModelInfo("llama3.1:8b")
    assert fp.engine == EngineInfo("ollama", "0.6")
    assert fp.gpu is not None and fp.unavailable == {}


def _fp(output_tokens: int, gpu: str) -> Fingerprint:
    return Fingerprint(
        loadgen_version="0.1.0",
        gpu=GpuInfo("550.54.15", "12.4", (GpuDevice(gpu, 80_000_000_000),)),
        engine=EngineInfo("vllm", "0.8.5"),
        model=ModelInfo("m", max_model_len=8192),
        host=gather(None, nvml=FakeNvml()).host,
        workload=WorkloadInfo(128, output_tokens, True, seed=0),
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(loadgen_cmd(*args), capture_output=True, text=True, timeout=120)


def test_report_shows_it_and_compare_warns_on_the_workload(tmp_path: Path) -> None:
    a = write_run(tmp_path, "a", "vllm", fingerprint=_fp(256, "NVIDIA H100 80GB HBM3"))
    b = write_run(tmp_path, "b", "vllm", fingerprint=_fp(128, "NVIDIA A100-SXM4-80GB"))
    report = _run("report", str(a))
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if "workload.output_tokens" in line)
    assert row.startswith("| workload.output_tokens") and row.endswith(" 256 |")
    assert "Run fingerprint" in (a / "report" / "report.html").read_text()
    compared = _run("compare", str(a), str(b), "--out", str(tmp_path / "cmp"))
    assert compared.returncode == 0, compared.stderr
    assert compared.stderr.splitlines() == [
        "loadgen: warning: not the same work: run b: workload.output_tokens 128 vs 256 in run a"
    ]
    assert (
        "differs: run b: gpu.devices NVIDIA A100-SXM4-80GB, 80.0 GB vs NVIDIA H100 80GB HBM3,"
        " 80.0 GB in run a" in compared.stdout
    )
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "Not the same work: run b: workload.output_tokens 128 vs 256 in run a" in html
