"""Gather a run's fingerprint before any load: NVML, this host, the engine's own answers, the
workload. Every part has a short timeout; a part that cannot be read is None with a one-line
reason in `unavailable`, and never fails the run.

Standalone, on any host (e.g. a GPU machine, to check the NVML path):
    python -m loadgen.run.fingerprint [--host URL [--model M] [--api auto|openai|ollama]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import psutil

from loadgen import __version__
from loadgen.errors import LoadgenError
from loadgen.fingerprint import (
    ClientInfo,
    EngineInfo,
    Fingerprint,
    GpuDevice,
    GpuInfo,
    HostInfo,
    ModelInfo,
    WorkloadInfo,
)
from loadgen.flags import seconds_of
from loadgen.run.target import TargetInfo, probe
from loadgen.sidecar.nvml import load_pynvml

FINGERPRINT_TIMEOUT_S = 2.0  # per engine request
T = TypeVar("T")


def gather(
    info: TargetInfo | None,
    workload: WorkloadInfo | None = None,
    api_key: str | None = None,
    sim_profile: str | None = None,
    nvml: Any | None = None,
    timeout_s: float = FINGERPRINT_TIMEOUT_S,
    client: ClientInfo | None = None,
) -> Fingerprint:
    """The fingerprint; `nvml` is a pynvml-like module (None: import the real one)."""
    unavailable: dict[str, str] = {}
    gpu = _part("gpu", unavailable, lambda: gpu_info(nvml))
    host = _part("host", unavailable, host_info)
    engine = model = None
    if info is not None:
        engine = EngineInfo(info.engine, _version(info.version), sim_profile)
        model = _part("model", unavailable, lambda: model_info(info, api_key, timeout_s))
    return Fingerprint(__version__, gpu, engine, model, host, workload, unavailable, client)


def _part(name: str, unavailable: dict[str, str], read: Callable[[], T | None]) -> T | None:
    """read(); a failure of any kind is recorded as the part's reason, never raised (a
    fingerprint must not stop a run: what it cannot read stays null)."""
    try:
        return read()
    except Unavailable as exc:
        unavailable[name] = str(exc)
    except Exception as exc:  # any failure leaves the part null, with its reason
        unavailable[name] = f"{type(exc).__name__}: {exc}"
    return None


class Unavailable(Exception):
    """A part that cannot be read here, with the one-line reason."""


# the GPU ---------------------------------------------------------------------------------------
def gpu_info(nvml: Any | None = None) -> GpuInfo:
    """Driver, CUDA version and every GPU's name and VRAM through NVML."""
    if nvml is None:
        nvml, reason = load_pynvml()
        if nvml is None:
            raise Unavailable(reason or "pynvml is not importable")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise Unavailable(f"no NVIDIA GPU readable ({exc})") from None
    try:
        devices = tuple(
            _device(nvml, nvml.nvmlDeviceGetHandleByIndex(i))
            for i in range(int(nvml.nvmlDeviceGetCount()))
        )
        driver = _nvml_call(nvml, nvml.nvmlSystemGetDriverVersion)
        cuda = _nvml_call(nvml, nvml.nvmlSystemGetCudaDriverVersion)
    finally:
        nvml.nvmlShutdown()
    if not devices:
        raise Unavailable("NVML found no GPU")
    return GpuInfo(
        driver_version=None if driver is None else _text(driver),
        cuda_version=None if cuda is None else cuda_version(int(cuda)),
        devices=devices,
    )


def _device(nvml: Any, handle: Any) -> GpuDevice:
    memory = _nvml_call(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)
    total = None if memory is None else int(memory.total)
    return GpuDevice(_text(nvml.nvmlDeviceGetName(handle)), total)


def _nvml_call(nvml: Any, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None  # unsupported on this GPU or driver: that field stays null


def cuda_version(code: int) -> str:
    """NVML's CUDA version code as text: 12040 -> '12.4'."""
    return f"{code // 1000}.{code % 1000 // 10}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# the host --------------------------------------------------------------------------------------
def host_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> HostInfo:
    """This host: CPU model (/proc/cpuinfo, else the platform's), cores, RAM, OS."""
    return HostInfo(
        hostname=socket.gethostname(),
        os=platform.platform(),
        cpu_model=_cpu_model(cpuinfo) or platform.processor() or None,
        cpu_logical_cores=psutil.cpu_count(logical=True),
        cpu_physical_cores=psutil.cpu_count(logical=False),
        ram_total_bytes=int(psutil.virtual_memory().total),
    )


def _cpu_model(cpuinfo: Path) -> str | None:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


# the model, from the engine ----------------------------------------------------------------------
def model_info(info: TargetInfo, api_key: str | None, timeout_s: float) -> ModelInfo:
    """The model's id, plus vLLM's max_model_len (/v1/models) or Ollama's /api/show details."""
    model = ModelInfo(id=info.model)
    if info.api == "openai":
        model = _with_max_model_len(model, info.host, api_key, timeout_s)
    if info.api == "ollama" or info.engine == "ollama":
        model = _with_ollama_show(model, info.host, api_key, timeout_s)
    return model


def _with_max_model_len(
    model: ModelInfo, host: str, api_key: str | None, timeout_s: float
) -> ModelInfo:
    listing = fetch_json(host + "/v1/models", api_key, timeout_s)
    cards = listing.get("data") if isinstance(listing, dict) else None
    for card in cards if isinstance(cards, list) else ():
        if isinstance(card, dict) and card.get("id") == model.id:
            length = card.get("max_model_len")
            return replace(model, max_model_len=length if isinstance(length, int) else None)
    return model


def _with_ollama_show(
    model: ModelInfo, host: str, api_key: str | None, timeout_s: float
) -> ModelInfo:
    shown = fetch_json(host + "/api/show", api_key, timeout_s, body={"model": model.id})
    if not isinstance(shown, dict):
        return model
    found = shown.get("details")
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    return replace(
        model,
        quantization_level=_str(details.get("quantization_level")),
        parameter_size=_str(details.get("parameter_size")),
        family=_str(details.get("family")),
        num_ctx=num_ctx(shown.get("parameters")),
        context_length=context_length(shown.get("model_info")),
    )


def num_ctx(parameters: Any) -> int | None:
    """`num_ctx N` from /api/show's `parameters` text; None when the Modelfile sets none."""
    if not isinstance(parameters, str):
        return None
    found = re.search(r"^\s*num_ctx\s+(\d+)\s*$", parameters, re.MULTILINE)
    return int(found.group(1)) if found else None


def context_length(model_info: Any) -> int | None:
    """`<architecture>.context_length` from /api/show's `model_info` (the trained context)."""
    if not isinstance(model_info, dict):
        return None
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fetch_json(
    url: str, api_key: str | None, timeout_s: float, body: Mapping[str, Any] | None = None
) -> Any | None:
    """GET (or POST `body` as JSON) and parse; None on any failure: a fingerprint never fails."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"accept": "application/json"})
    if data is not None:
        request.add_header("content-type", "application/json")
    if api_key:
        request.add_header("authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _version(version: Mapping[str, Any]) -> str | None:
    return _str(version.get("version"))


# the workload ----------------------------------------------------------------------------------
def workload_of(opts: Mapping[str, Any]) -> WorkloadInfo:
    """The workload from a command's checked options (loadgen/flags.py names)."""
    dataset = opts.get("dataset") or None
    return WorkloadInfo(
        input_tokens=opts.get("input_tokens"),
        output_tokens=opts.get("output_tokens"),
        ignore_eos=bool(opts.get("ignore_eos")),
        min_tokens=opts.get("min_tokens"),
        temperature=opts.get("temperature"),
        turns=opts.get("turns"),
        seed=opts.get("seed"),
        dataset=None if dataset is None else str(dataset),
        dataset_sha256=None if dataset is None else file_sha256(Path(dataset)),
    )


def client_of(opts: Mapping[str, Any], api: str) -> ClientInfo:
    """How this run reads the engine, from a command's checked options: `api` as the probe
    resolved it, --client, and the fast client's --itl-resolution."""
    client = opts.get("client")
    resolution = seconds_of(opts, "itl-resolution") if client == "fast" else None
    return ClientInfo(api, client, resolution)


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256 in hex; None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


# standalone ------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Print this host's fingerprint as JSON (and the engine's, with --host)."""
    parser = argparse.ArgumentParser(prog="python -m loadgen.run.fingerprint")
    parser.add_argument("--host", help="an engine's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", default="", help="the model [default: the first listed]")
    parser.add_argument("--api", default="auto", choices=("auto", "openai", "ollama"))
    args = parser.parse_args(argv)
    info = None
    if args.host:
        try:
            info = probe(args.host, args.api, args.model, None)
        except LoadgenError as exc:
            parser.exit(2, f"loadgen: error: {exc}\n")
    print(json.dumps(gather(info).to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
