"""Per-GPU readings through NVML; the `pynvml` module is injected so tests can pass a fake.

A field the GPU does not support is None. Any other NVML error becomes a Notice (once per
distinct error until the call succeeds again) and never stops sampling.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadgen.records import GpuSample, Notice

# NVML return codes (nvml.h); read from the module when it has them.
_NOT_SUPPORTED = 3
_FUNCTION_NOT_FOUND = 13


@dataclass(frozen=True, slots=True)
class NvmlReading:
    """One sampling tick: every GPU, per-process GPU memory (pid -> bytes), and new notices."""

    gpus: list[GpuSample]
    process_memory_bytes: dict[int, int]
    notices: list[Notice] = field(default_factory=list)


def load_pynvml() -> tuple[Any | None, str | None]:
    """The real `pynvml` module, or None and a one-line reason."""
    try:
        return importlib.import_module("pynvml"), None
    except ImportError as exc:
        return None, f"nvidia-ml-py is not importable ({exc}); sampling host and process only"


class NvmlReader:
    """Reads every GPU of one host through an NVML module object (real `pynvml` or a fake)."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self._handles: list[tuple[int, str, Any]] = []  # (index, name, handle)
        self._failing: dict[str, str] = {}  # "gpu0.power" -> last error text reported
        self._wall_unix_ns = 0
        self._notices: list[Notice] = []

    def open(self) -> str | None:
        """Initialise NVML; returns a one-line notice if there is no driver or GPU."""
        nv = self._nvml
        try:
            nv.nvmlInit()
            count = int(nv.nvmlDeviceGetCount())
            for index in range(count):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                self._handles.append((index, _text(nv.nvmlDeviceGetName(handle)), handle))
        except nv.NVMLError as exc:
            self._handles = []
            return f"no NVIDIA GPU readable ({exc}); sampling host and process only"
        if not self._handles:
            return "NVML found no GPU; sampling host and process only"
        return None

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    def close(self) -> None:
        if self._handles:
            self._call("shutdown", self._nvml.nvmlShutdown)
            self._handles = []

    def read(self, wall_unix_ns: int) -> NvmlReading:
        """One reading of every GPU; a GPU whose memory cannot be read is left out this tick."""
        self._wall_unix_ns = wall_unix_ns
        self._notices = []
        gpus: list[GpuSample] = []
        per_process: dict[int, int] = {}
        for index, name, handle in self._handles:
            sample = self._read_gpu(index, name, handle)
            if sample is not None:
                gpus.append(sample)
            for pid, used_bytes in self._process_memory(index, handle).items():
                per_process[pid] = per_process.get(pid, 0) + used_bytes
        return NvmlReading(gpus, per_process, self._notices)

    def _read_gpu(self, index: int, name: str, handle: Any) -> GpuSample | None:
        nv = self._nvml
        key = f"gpu{index}"
        memory = self._memory(key, handle)
        if memory is None:
            return None
        used_bytes, total_bytes, reserved_bytes = memory
        util = self._call(f"{key}.utilization", nv.nvmlDeviceGetUtilizationRates, handle)
        power_mw = self._call(f"{key}.power", nv.nvmlDeviceGetPowerUsage, handle)
        energy_mj = self._call(f"{key}.energy", nv.nvmlDeviceGetTotalEnergyConsumption, handle)
        temp = self._call(
            f"{key}.temperature",
            nv.nvmlDeviceGetTemperature,
            handle,
            _const(nv, "NVML_TEMPERATURE_GPU", 0),
        )
        sm = self._call(
            f"{key}.sm_clock", nv.nvmlDeviceGetClockInfo, handle, _const(nv, "NVML_CLOCK_SM", 1)
        )
        mem = self._call(
            f"{key}.mem_clock", nv.nvmlDeviceGetClockInfo, handle, _const(nv, "NVML_CLOCK_MEM", 2)
        )
        return GpuSample(
            wall_unix_ns=self._wall_unix_ns,
            gpu_index=index,
            gpu_name=name,
            vram_used_bytes=used_bytes,
            vram_total_bytes=total_bytes,
            vram_reserved_bytes=reserved_bytes,
            gpu_util_pct=None if util is None else float(util.gpu),
            mem_util_pct=None if util is None else float(util.memory),
            power_w=None if power_mw is None else power_mw / 1000.0,  # NVML reports mW
            energy_j=None if energy_mj is None else energy_mj / 1000.0,  # NVML reports mJ
            temperature_c=None if temp is None else float(temp),
            sm_clock_mhz=None if sm is None else int(sm),
            mem_clock_mhz=None if mem is None else int(mem),
            throttle_reasons=self._throttle_reasons(key, handle),
            source="nvml",
        )

    def _memory(self, key: str, handle: Any) -> tuple[int, int, int | None] | None:
        """(used, total, reserved) from the v2 memory info, which is what nvidia-smi shows."""
        nv = self._nvml
        version = getattr(nv, "nvmlMemory_v2", None)
        if version is not None:
            info = self._call(
                f"{key}.memory_v2", nv.nvmlDeviceGetMemoryInfo, handle, version=version
            )
            if info is not None:
                return int(info.used), int(info.total), int(info.reserved)
        # Older drivers: v1 counts the driver's reservation as used.
        info = self._call(f"{key}.memory", nv.nvmlDeviceGetMemoryInfo, handle)
        if info is None:
            return None
        return int(info.used), int(info.total), None

    def _throttle_reasons(self, key: str, handle: Any) -> int | None:
        nv = self._nvml
        reader = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if reader is None:  # nvidia-ml-py before 12.535 names it "throttle reasons"
            reader = nv.nvmlDeviceGetCurrentClocksThrottleReasons
        value = self._call(f"{key}.throttle_reasons", reader, handle)
        return None if value is None else int(value)

    def _process_memory(self, index: int, handle: Any) -> dict[int, int]:
        nv = self._nvml
        procs = self._call(f"gpu{index}.processes", nv.nvmlDeviceGetComputeRunningProcesses, handle)
        out: dict[int, int] = {}
        for proc in procs or ():
            used = getattr(proc, "usedGpuMemory", None)  # None where the driver cannot tell
            if used is not None:
                out[int(proc.pid)] = out.get(int(proc.pid), 0) + int(used)
        return out

    def _call(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args); None if unsupported; other NVML errors become a Notice once per change."""
        try:
            value = fn(*args, **kwargs)
        except self._nvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code not in (
                _const(self._nvml, "NVML_ERROR_NOT_SUPPORTED", _NOT_SUPPORTED),
                _const(self._nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", _FUNCTION_NOT_FOUND),
            ):
                self._report(key, f"NVML error on {key}: {exc}")
            return None
        if self._failing.pop(key, None) is not None:
            self._notices.append(Notice(self._wall_unix_ns, "nvml", f"NVML {key} readable again"))
        return value

    def _report(self, key: str, message: str) -> None:
        if self._failing.get(key) != message:
            self._failing[key] = message
            self._notices.append(Notice(self._wall_unix_ns, "nvml", message))


def _const(module: Any, name: str, default: int) -> int:
    return int(getattr(module, name, default))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
