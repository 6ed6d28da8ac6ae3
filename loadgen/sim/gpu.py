"""Simulated GPU memory, utilisation and power, served as JSON by GET /sim/gpu.

VRAM used = weights + overhead + KV blocks in use x block bytes + running sequences x seq bytes.
A vLLM-like profile sets `reserve_bytes`: the whole KV pool is reserved at start-up (what the
allocator holds), while `used` follows what the pool actually holds, as the reference table shows.
"""

from __future__ import annotations

import time
from typing import Any

from loadgen.sim.engine import Engine
from loadgen.sim.profiles import Profile


def vram_used_bytes(profile: Profile, engine: Engine) -> int:
    """Bytes the simulated engine occupies now."""
    g = profile.gpu
    used = (
        g.weights_bytes
        + g.overhead_bytes
        + engine.blocks_used * g.kv_block_bytes
        + len(engine.running) * g.seq_bytes
    )
    if g.reserve_bytes:
        used = min(used, g.reserve_bytes)
    return min(used, g.vram_total_bytes)


class GpuMeter:
    """Turns the scheduler's busy time into a utilisation figure between two readings."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._last_wall_ns = time.perf_counter_ns()
        self._last_busy_ns = 0
        self._util_pct = 0.0

    def util_pct(self, busy_ns: int, time_scale: float) -> float:
        now = time.perf_counter_ns()
        elapsed = now - self._last_wall_ns
        if elapsed >= 200_000_000:  # keep the previous figure for readings closer than 0.2 s
            busy = busy_ns - self._last_busy_ns
            self._util_pct = max(0.0, min(100.0, 100.0 * busy / elapsed))
            self._last_wall_ns, self._last_busy_ns = now, busy_ns
        return self._util_pct

    def snapshot(self, engine: Engine, busy_ns: int, time_scale: float) -> dict[str, Any]:
        """The /sim/gpu document."""
        g = self.profile.gpu
        util = self.util_pct(busy_ns, time_scale)
        used = vram_used_bytes(self.profile, engine)
        reserved = max(used, min(g.reserve_bytes, g.vram_total_bytes))
        load = util / 100.0
        gpu = {
            "index": 0,
            "name": g.name,
            "vram_used_bytes": used,
            "vram_total_bytes": g.vram_total_bytes,
            "vram_reserved_bytes": reserved,
            "gpu_util_pct": round(util, 2),
            "power_w": round(g.idle_power_w + (g.max_power_w - g.idle_power_w) * load, 2),
            "temperature_c": round(
                g.idle_temperature_c + (g.max_temperature_c - g.idle_temperature_c) * load, 2
            ),
        }
        return {"engine": self.profile.engine, "profile": self.profile.name, "gpus": [gpu]}
