"""The lines printed when the sidecar exits: per GPU peak VRAM (as nvidia-smi's "used")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loadgen.records import GpuSample, ProcessSample, SidecarSample

_GB = 1e9


@dataclass(slots=True)
class _GpuPeak:
    name: str
    source: str
    total_bytes: int
    first_used_bytes: int
    peak_used_bytes: int
    last_used_bytes: int
    n_samples: int = 1


class PeakTracker:
    """Accumulates peaks tick by tick (constant memory), then renders one line per GPU."""

    def __init__(self) -> None:
        self._gpus: dict[tuple[str, int], _GpuPeak] = {}
        self.peak_rss_bytes: int | None = None
        self.n_ticks = 0

    def observe(self, samples: Iterable[SidecarSample]) -> None:
        self.n_ticks += 1
        for s in samples:
            if isinstance(s, GpuSample):
                self._observe_gpu(s)
            elif isinstance(s, ProcessSample) and s.alive:
                self.peak_rss_bytes = max(self.peak_rss_bytes or 0, s.rss_bytes)

    def _observe_gpu(self, s: GpuSample) -> None:
        key = (s.source, s.gpu_index)
        peak = self._gpus.get(key)
        if peak is None:
            self._gpus[key] = _GpuPeak(
                s.gpu_name,
                s.source,
                s.vram_total_bytes,
                s.vram_used_bytes,
                s.vram_used_bytes,
                s.vram_used_bytes,
            )
            return
        peak.peak_used_bytes = max(peak.peak_used_bytes, s.vram_used_bytes)
        peak.last_used_bytes = s.vram_used_bytes
        peak.n_samples += 1

    def lines(self) -> list[str]:
        out = []
        for (source, index), p in sorted(self._gpus.items()):
            out.append(
                f"gpu {index} {p.name} ({source}): vram_used"
                f" first {p.first_used_bytes / _GB:.2f} GB,"
                f" peak {p.peak_used_bytes / _GB:.2f} GB ({p.peak_used_bytes} B),"
                f" last {p.last_used_bytes / _GB:.2f} GB of {p.total_bytes / _GB:.2f} GB;"
                f" {p.n_samples} samples"
            )
        if self.peak_rss_bytes is not None:
            out.append(f"engine process tree: peak rss {self.peak_rss_bytes / _GB:.2f} GB")
        out.append(f"{self.n_ticks} ticks")
        return out
