"""Whether the model is in memory, as Ollama keeps it: loaded by the request that needs it
(`load_ms`), unloaded once it has been idle for `keep_alive_s` after its last request ended.

A request's own `keep_alive` (Ollama's field: seconds, or a duration such as "5m"; negative
keeps the model loaded for good) sets the idle time after that request, as in Ollama.
"""

from __future__ import annotations

import asyncio
import re
import time

from loadgen.sim.profiles import Profile

_NS_PER_S = 1_000_000_000
# Go's time.ParseDuration units, which Ollama's keep_alive strings use.
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_keep_alive(value: object) -> float | None:
    """Seconds from Ollama's `keep_alive` (a number of seconds, a numeric string, or a Go
    duration such as "5m" or "1h30m"; negative: for good); None if absent. ValueError if bad.

    >>> parse_keep_alive("5m"), parse_keep_alive(0), parse_keep_alive("-1"), parse_keep_alive(None)
    (300.0, 0.0, -1.0, None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a number of seconds or a duration such as '5m'")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("keep_alive must be a number of seconds or a duration such as '5m'")
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"keep_alive: invalid duration {value!r}")
    return sign * sum(float(n) * _UNIT_S[u] for n, u in parts)


class Residency:
    """The model's residency; `acquire` before a request enters the engine, `release` after.

    A profile with `load_ms` 0 always has its model loaded. Otherwise the server starts without
    it, as Ollama does, and the first request loads it; requests arriving during a load wait
    for the same load. Times are scaled by `time_scale`, like every simulated duration.
    """

    def __init__(self, profile: Profile, time_scale: float = 1.0) -> None:
        self.load_s = profile.load_ms / 1e3 * time_scale
        self.keep_alive_s = profile.keep_alive_s
        self.time_scale = time_scale
        self.loaded = self.load_s <= 0
        self.loads = 0  # loads done since start
        self.in_flight = 0
        self._expires_ns: int | None = None  # while idle: when the model unloads (None: never)
        self._loading: asyncio.Task[None] | None = None

    def is_loaded(self, now_ns: int | None = None) -> bool:
        """Whether the model is in memory now (an idle model past its keep_alive is not)."""
        now_ns = time.perf_counter_ns() if now_ns is None else now_ns
        idle = self.in_flight == 0 and self._expires_ns is not None
        if self.loaded and idle and self._expires_ns is not None and now_ns >= self._expires_ns:
            self.loaded = False
        return self.loaded

    def expires_in_s(self) -> float | None:
        """Seconds until an idle model unloads; None while busy or kept for good."""
        if self.in_flight or self._expires_ns is None:
            return None
        return max(0.0, (self._expires_ns - time.perf_counter_ns()) / _NS_PER_S)

    async def acquire(self) -> None:
        """Count a request in; load the model first if it is not in memory."""
        self.is_loaded()
        self.in_flight += 1
        self._expires_ns = None
        if self.loaded:
            return
        if self._loading is None or self._loading.done():
            self._loading = asyncio.get_running_loop().create_task(self._load())
        try:
            await asyncio.shield(self._loading)
        except asyncio.CancelledError:
            self.release(None)
            raise

    async def _load(self) -> None:
        await asyncio.sleep(self.load_s)
        self.loaded = True
        self.loads += 1

    def release(self, keep_alive_s: float | None) -> None:
        """Count a request out; the last one out starts the idle clock: its own keep_alive,
        else the profile's (negative: the model stays)."""
        self.in_flight = max(0, self.in_flight - 1)
        if self.in_flight:
            return
        wait_s = self.keep_alive_s if keep_alive_s is None else keep_alive_s
        if wait_s < 0:
            self._expires_ns = None
        else:
            self._expires_ns = time.perf_counter_ns() + int(wait_s * self.time_scale * _NS_PER_S)
