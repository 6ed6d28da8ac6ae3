"""The sampling loop with a fake NVML, a fake clock and a real JSONL sink."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from loadgen.records import GpuSample, HostSample, Notice, SidecarSample
from loadgen.results import SidecarLog
from loadgen.sidecar.host import HostReader, matches
from loadgen.sidecar.launch import sidecar_argv
from loadgen.sidecar.nvml import NvmlReader
from loadgen.sidecar.runner import Sidecar, Sources, open_sources
from tests.fixtures.fake_nvml import (
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_UNKNOWN,
    FakeGpu,
    FakeNvml,
)


class FakeClock:
    """Monotonic time that advances only when the loop waits."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic_s(self) -> float:
        return self.now_s

    def wall_ns(self) -> int:
        return 1_800_000_000_000_000_000 + int(self.now_s * 1e9)


class ClockedStop(threading.Event):
    """A stop event whose wait() advances the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock, stop_after_waits: int | None = None) -> None:
        super().__init__()
        self.clock, self.waits, self.stop_after = clock, 0, stop_after_waits

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        self.clock.now_s += timeout or 0.0
        if self.stop_after is not None and self.waits >= self.stop_after:
            self.set()
        return self.is_set()


class BrokenSink:
    def __init__(self) -> None:
        self.closed = False

    def write(self, samples: Sequence[SidecarSample]) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        self.closed = True


def _sidecar(
    tmp_path: Path, fake: FakeNvml, clock: FakeClock, echoed: list[str], interval_s: float = 0.1
) -> Sidecar:
    reader = NvmlReader(fake)
    assert reader.open() is None
    sinks = [SidecarLog(tmp_path, "run-7"), BrokenSink()]
    return Sidecar(
        Sources(HostReader(), nvml=reader),
        sinks,
        interval_s,
        echoed.append,
        wall_ns=clock.wall_ns,
        monotonic_s=clock.monotonic_s,
    )


def _lines(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "sidecar.jsonl").read_text().splitlines()]


def test_duration_bounds_ticks_at_10_hz_and_errors_do_not_stop_it(tmp_path: Path) -> None:
    clock, echoed = FakeClock(), []
    fake = FakeNvml([FakeGpu(used_bytes=5 * 10**9)])
    sidecar = _sidecar(tmp_path, fake, clock, echoed)
    fake.errors["nvmlDeviceGetTemperature"] = NVML_ERROR_UNKNOWN
    sidecar.run(ClockedStop(clock), duration_s=1.0)
    lines = _lines(tmp_path)
    kinds = [line["kind"] for line in lines]
    assert kinds.count("gpu") == kinds.count("host") == 11  # t = 0.0, 0.1, ..., 1.0
    assert kinds.count("notice") == 1 and all(line["run_id"] == "run-7" for line in lines)
    assert echoed[0] == "NVML error on gpu0.temperature: Unknown Error"
    assert echoed[1] == "sink BrokenSink failed: disk full" and len(echoed) == 2  # once
    assert sidecar.sinks[1].closed and fake.shut_down  # type: ignore[attr-defined]
    assert sidecar.summary.lines()[0].startswith(
        "gpu 0 NVIDIA H100 80GB HBM3 (nvml): vram_used first 5.00 GB"
    )


def test_stop_event_ends_the_loop_and_flushes(tmp_path: Path) -> None:
    clock, echoed = FakeClock(), []
    sidecar = _sidecar(tmp_path, FakeNvml(), clock, echoed, interval_s=1.0)
    sidecar.run(ClockedStop(clock, stop_after_waits=3), duration_s=None)
    assert [line["kind"] for line in _lines(tmp_path)].count("host") == 3


def test_one_wall_time_per_tick_and_peaks(tmp_path: Path) -> None:
    clock, echoed = FakeClock(), []
    fake = FakeNvml([FakeGpu(used_bytes=1 * 10**9), FakeGpu(used_bytes=2 * 10**9)])
    sidecar = _sidecar(tmp_path, fake, clock, echoed)
    samples = sidecar.tick()
    assert len({s.wall_unix_ns for s in samples}) == 1
    assert [type(s) for s in samples] == [GpuSample, GpuSample, HostSample]
    sidecar.emit(samples)
    fake.gpus[1].used_bytes = 7 * 10**9
    sidecar.emit(sidecar.tick())
    fake.gpus[1].used_bytes = 3 * 10**9
    sidecar.emit(sidecar.tick())
    assert "peak 7.00 GB (7000000000 B), last 3.00 GB" in sidecar.summary.lines()[1]


def test_open_sources_without_driver_keeps_host(tmp_path: Path) -> None:
    sources = open_sources(
        pid=None,
        process_name=None,
        engine_url=None,
        engine="auto",
        interval_s=1.0,
        nvml_module=FakeNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND),
    )
    assert sources.nvml is None and sources.tracker is None and sources.scraper is None
    (notice,) = sources.startup_notices
    assert isinstance(notice, Notice) and notice.source == "nvml"
    sidecar = Sidecar(sources, [], 1.0, lambda _: None)
    kinds = [type(s).__name__ for s in sidecar.tick()]
    assert kinds == ["Notice", "HostSample"]
    assert [type(s).__name__ for s in sidecar.tick()] == ["HostSample"]  # the notice comes once


def test_process_name_matching() -> None:
    assert matches("ollama", ["/usr/bin/ollama", "serve"], "ollama")
    assert matches("python3", ["python3", "-m", "vllm.entrypoints.openai.api_server"], "vllm")
    assert matches("VLLM::EngineCore", [], "vllm")
    assert not matches(
        "python3", ["python3", "-m", "loadgen", "sidecar", "--process-name", "vllm"], "vllm"
    )


def test_sidecar_argv() -> None:
    argv = sidecar_argv(
        "r1",
        Path("results/r1"),
        "http://127.0.0.1:8000/v1",
        process_name="vllm",
        interval_s=0.5,
        influx_args=["--influx-url", "http://127.0.0.1:8086"],
    )
    assert argv == [
        sys.executable,
        "-m",
        "loadgen",
        "sidecar",
        "--run-id",
        "r1",
        "--results",
        "results/r1",
        "--interval",
        "0.5",
        "--engine-url",
        "http://127.0.0.1:8000/v1",
        "--process-name",
        "vllm",
        "--influx-url",
        "http://127.0.0.1:8086",
    ]
    assert sidecar_argv("r", "d", None, pid=42)[-2:] == ["--pid", "42"]
