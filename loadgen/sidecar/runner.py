"""The sampling loop: every interval, read NVML, the process tree, the host and the engine.

It stops on its deadline or when `stop` is set (the CLI sets it on SIGTERM/SIGINT), then
closes every sink. One failing source or sink never stops the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadgen.records import Notice, SidecarSample
from loadgen.sidecar.host import HostReader, ProcessTracker
from loadgen.sidecar.nvml import NvmlReader, load_pynvml
from loadgen.sidecar.scraper import EngineKind, EngineScraper
from loadgen.sidecar.summary import PeakTracker


class SampleSink(Protocol):
    """Where samples go: sidecar.jsonl (`loadgen.results.SidecarLog`) or InfluxDB."""

    def write(self, samples: Sequence[SidecarSample]) -> None:
        """Take one tick's samples; must not block for long."""

    def close(self) -> None:
        """Flush and release; bounded in time."""


@dataclass
class Sources:
    """What to sample; any of them may be missing (no GPU, no engine process, no engine URL)."""

    host: HostReader
    nvml: NvmlReader | None = None
    tracker: ProcessTracker | None = None
    scraper: EngineScraper | None = None
    startup_notices: list[Notice] = field(default_factory=list)  # emitted with the first tick


@dataclass
class Sidecar:
    """Runs ticks at a fixed rate into the sinks; `echo` prints notices (stderr in the CLI)."""

    sources: Sources
    sinks: Sequence[SampleSink]
    interval_s: float
    echo: Callable[[str], None]
    wall_ns: Callable[[], int] = time.time_ns
    monotonic_s: Callable[[], float] = time.monotonic
    summary: PeakTracker = field(default_factory=PeakTracker)
    _broken_sinks: set[int] = field(default_factory=set)

    def tick(self) -> list[SidecarSample]:
        """One reading of every source, all stamped with the same wall time."""
        wall_unix_ns = self.wall_ns()
        src = self.sources
        samples: list[SidecarSample] = [*src.startup_notices]
        src.startup_notices = []
        gpu_memory: dict[int, int] | None = None
        if src.nvml is not None:
            reading = src.nvml.read(wall_unix_ns)
            samples += [*reading.gpus, *reading.notices]
            gpu_memory = reading.process_memory_bytes
        if src.tracker is not None:
            process, notices = src.tracker.read(wall_unix_ns, gpu_memory)
            samples += [*([process] if process else []), *notices]
        samples.append(src.host.read(wall_unix_ns))
        if src.scraper is not None:
            gpus, engines, notices = src.scraper.read(wall_unix_ns)
            samples += [*gpus, *engines, *notices]
        return samples

    def emit(self, samples: Sequence[SidecarSample]) -> None:
        for s in samples:
            if isinstance(s, Notice):
                self.echo(s.message)
        self.summary.observe(samples)
        for i, sink in enumerate(self.sinks):
            try:
                sink.write(samples)
            except Exception as exc:  # one broken sink must not stop the others
                if i not in self._broken_sinks:
                    self._broken_sinks.add(i)
                    self.echo(f"sink {type(sink).__name__} failed: {exc}")

    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        """Tick until `stop` is set or `duration_s` has passed; then close the sinks."""
        start_s = self.monotonic_s()
        deadline_s = None if duration_s is None else start_s + duration_s
        next_s = start_s
        try:
            while not stop.is_set():
                self.emit(self.tick())
                next_s += self.interval_s
                now_s = self.monotonic_s()
                if next_s < now_s:  # fell behind (a slow scrape): skip, do not burst
                    next_s = now_s
                if deadline_s is not None and next_s > deadline_s:
                    break
                stop.wait(next_s - now_s)
        finally:
            self.close()

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                self.echo(f"sink {type(sink).__name__} did not close cleanly: {exc}")
        nvml = self.sources.nvml
        if nvml is not None:
            nvml.close()


def open_sources(
    *,
    pid: int | None,
    process_name: str | None,
    engine_url: str | None,
    engine: EngineKind,
    interval_s: float,
    nvml_module: Any = None,
    use_nvml: bool = True,
) -> Sources:
    """Every available source; no GPU or driver is a one-line notice, not an error.

    `nvml_module` is the NVML module object to use (the real `pynvml` when None).
    """
    nvml = None
    notices: list[Notice] = []
    if use_nvml:
        module, reason = (nvml_module, None) if nvml_module is not None else load_pynvml()
        if module is not None:
            nvml = NvmlReader(module)
            reason = nvml.open()
        if reason:
            notices.append(Notice(time.time_ns(), "nvml", reason))
            nvml = None
    tracker = None
    if pid is not None or process_name:
        tracker = ProcessTracker(pid=pid, process_name=process_name or None)
    scraper = None
    if engine_url:
        scraper = EngineScraper(engine_url, engine, timeout_s=min(1.0, max(0.5, interval_s)))
    return Sources(HostReader(), nvml, tracker, scraper, notices)
