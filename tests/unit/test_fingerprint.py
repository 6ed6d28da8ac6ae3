"""The run fingerprint: NVML through the fake (no GPU here), this host, Ollama's /api/show
texts, the workload's dataset hash, the client, meta.json round trips and the differences compare
reports."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from loadgen.fingerprint import (
    ClientInfo,
    EngineInfo,
    Fingerprint,
    GpuDevice,
    GpuInfo,
    ModelInfo,
    WorkloadInfo,
    differences,
)
from loadgen.results import read_meta, read_summary, write_summary
from loadgen.run.fingerprint import (
    client_of,
    context_length,
    cuda_version,
    file_sha256,
    gather,
    gpu_info,
    host_info,
    num_ctx,
    workload_of,
)
from loadgen.summary import RunMeta, RunSummary
from tests.fixtures.fake_nvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeGpu, FakeNvml

H100 = "NVIDIA H100 80GB HBM3"


def test_nvml_gives_driver_cuda_and_every_gpu() -> None:
    nvml = FakeNvml([FakeGpu(), FakeGpu()])
    gpu = gpu_info(nvml)
    assert (gpu.driver_version, gpu.cuda_version) == ("550.54.15", "12.4")
    assert gpu.devices == (GpuDevice(H100, 85_520_809_984),) * 2
    assert nvml.shut_down
    assert cuda_version(12020) == "12.2" and cuda_version(11080) == "11.8"


def test_an_unsupported_nvml_field_is_null_and_no_driver_is_a_reason() -> None:
    nvml = FakeNvml()
    nvml.unsupported.add("nvmlSystemGetCudaDriverVersion")
    assert gpu_info(nvml).cuda_version is None
    no_driver = gather(None, nvml=FakeNvml(init_error=NVML_ERROR_DRIVER_NOT_LOADED))
    assert no_driver.gpu is None
    assert no_driver.unavailable == {"gpu": "no NVIDIA GPU readable (Driver Not Loaded)"}
    assert no_driver.host is not None and no_driver.host.ram_total_bytes


def test_host_reads_the_cpu_model(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
    host = host_info(cpuinfo)
    assert host.cpu_model == "AMD EPYC 9654 96-Core Processor"
    assert host.role == "client" and host.cpu_logical_cores and host.cpu_logical_cores >= 1


def test_ollama_show_texts() -> None:
    assert num_ctx("temperature 0.7\nnum_ctx 2048") == 2048
    assert num_ctx("temperature 0.7") is None and num_ctx(None) is None
    info = {"general.architecture": "gemma3", "gemma3.context_length": 131072}
    assert context_length(info) == 131072
    assert context_length({"general.architecture": "llama"}) is None


def test_workload_hashes_the_dataset(tmp_path: Path) -> None:
    dataset = tmp_path / "d.jsonl"
    dataset.write_bytes(b'{"prompt": "hi"}\n')
    opts = {"input_tokens": 128, "output_tokens": 64, "ignore_eos": True, "seed": 3}
    work = workload_of({**opts, "dataset": str(dataset), "turns": 1})
    assert work.dataset_sha256 == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert (work.output_tokens, work.ignore_eos, work.seed) == (64, True, 3)
    assert workload_of(opts).dataset_sha256 is None
    assert file_sha256(tmp_path / "missing") is None


def test_the_client_is_the_api_the_client_flag_and_the_fast_clients_resolution() -> None:
    assert client_of({"client": "fast", "itl_resolution": "3ms"}, "ollama") == ClientInfo(
        "ollama", "fast", 0.003
    )
    assert client_of({"client": "openai", "itl_resolution": "3ms"}, "openai") == ClientInfo(
        "openai",
        "openai",
        None,  # the SDK's reads have no resolution of loadgen's
    )


def _fingerprint(**workload: object) -> Fingerprint:
    return Fingerprint(
        loadgen_version="0.1.0",
        gpu=GpuInfo("550.54.15", "12.4", (GpuDevice(H100, 85_520_809_984),)),
        engine=EngineInfo("vllm", "0.8.5"),
        model=ModelInfo("m", max_model_len=8192),
        workload=replace(WorkloadInfo(128, 256, True, seed=1), **workload),  # type: ignore[arg-type]
        client=ClientInfo("openai", "fast", 0.002),
    )


def test_meta_json_round_trips_the_fingerprint(tmp_path: Path) -> None:
    fp = _fingerprint()
    summary = RunSummary("r", (), RunMeta("r", engine="vllm", fingerprint=fp))
    write_summary(tmp_path, summary)
    assert read_meta(tmp_path).fingerprint == fp
    assert read_summary(tmp_path).meta.fingerprint == fp
    assert Fingerprint.from_dict({"gpu": "bad", "model": {"id": "m", "new_key": 1}}) == Fingerprint(
        model=ModelInfo("m")
    )
    assert RunMeta.from_dict({"run_id": "old"}).fingerprint is None  # a run from before


def test_differences_warn_on_workload_and_model_and_list_the_rest() -> None:
    base = _fingerprint()
    other = replace(
        _fingerprint(output_tokens=128, dataset="/elsewhere/d.jsonl"),
        gpu=GpuInfo("550.54.15", None, (GpuDevice("NVIDIA H200", 150_000_000_000),)),
        model=ModelInfo("m", max_model_len=None),  # unknown there: not a difference
    )
    found = differences(base, other)
    assert [(d.key, d.warned) for d in found] == [
        ("gpu.devices", False),
        ("workload.output_tokens", True),
    ]
    assert found[1].line("B", "A") == "run B: workload.output_tokens 128 vs 256 in run A"
    assert found[0].line("B", "A") == (
        "run B: gpu.devices NVIDIA H200, 150.0 GB vs NVIDIA H100 80GB HBM3, 85.5 GB in run A"
    )
    assert differences(base, base) == []


def test_a_different_client_is_listed_not_warned() -> None:
    base = _fingerprint()
    other = replace(base, client=ClientInfo("openai", "fast", 0.001))
    found = differences(base, other)
    assert [(d.key, d.warned) for d in found] == [("client.itl_resolution_s", False)]
    assert found[0].line("B", "A") == "run B: client.itl_resolution_s 1ms vs 2ms in run A"
    sdk = replace(base, client=ClientInfo("openai", "openai", None))
    assert [d.line("B", "A") for d in differences(base, sdk)] == [
        "run B: client.transport openai vs fast in run A"  # None: unknown there, not a difference
    ]
