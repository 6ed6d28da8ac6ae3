"""Finds which endpoints an engine serves (/sim/gpu, /api/ps, /metrics) and scrapes them each tick.

An engine that is still loading or down is retried: detection every few seconds, and each
endpoint's failure is one Notice until it answers again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from loadgen.records import EngineSample, GpuSample, Notice
from loadgen.redact import redact_text
from loadgen.sidecar.engine import (
    EngineFormatError,
    base_url,
    get_json,
    http_get,
    parse_ollama_ps,
    parse_sim_gpu,
    parse_vllm_metrics,
)

EngineKind = Literal["auto", "vllm", "ollama", "sim"]
Endpoint = Literal["sim_gpu", "metrics", "api_ps"]
ENGINE_KINDS: tuple[str, ...] = ("auto", "vllm", "ollama", "sim")
_PATHS: dict[Endpoint, str] = {"sim_gpu": "/sim/gpu", "metrics": "/metrics", "api_ps": "/api/ps"}
_DETECT_EVERY_S = 2.0
_NATIVE: dict[str, Endpoint] = {"vllm": "metrics", "ollama": "api_ps"}


class EngineScraper:
    """Engine-side samples of one server; `auto` probes /sim/gpu, then /api/ps, then /metrics."""

    def __init__(
        self,
        engine_url: str,
        engine: EngineKind = "auto",
        timeout_s: float = 1.0,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = base_url(engine_url)
        self.engine = engine
        self.kind = "" if engine in ("auto", "sim") else engine
        self._timeout_s = timeout_s
        self._monotonic_s = monotonic_s
        self._endpoints: list[Endpoint] = [] if not self.kind else [_NATIVE[self.kind]]
        self._last_detect_s = float("-inf")
        self._failing: dict[str, str] = {}
        self._notices: list[Notice] = []

    def read(self, wall_unix_ns: int) -> tuple[list[GpuSample], list[EngineSample], list[Notice]]:
        """Simulated GPUs, engine samples, and notices for this tick."""
        self._notices = []
        if not self._endpoints:
            self._detect(wall_unix_ns)
        gpus: list[GpuSample] = []
        engines: list[EngineSample] = []
        for endpoint in self._endpoints:
            try:
                self._scrape(endpoint, wall_unix_ns, gpus, engines)
            except (OSError, EngineFormatError) as exc:
                self._fail(endpoint, wall_unix_ns, f"{self.root}{_PATHS[endpoint]}: {_reason(exc)}")
                continue
            if self._failing.pop(endpoint, None) is not None:
                self._note(wall_unix_ns, f"{self.root}{_PATHS[endpoint]} answers again")
        return gpus, engines, self._notices

    def _scrape(
        self,
        endpoint: Endpoint,
        wall_unix_ns: int,
        gpus: list[GpuSample],
        engines: list[EngineSample],
    ) -> None:
        url = self.root + _PATHS[endpoint]
        if endpoint == "sim_gpu":
            _, sim_gpus = parse_sim_gpu(get_json(url, self._timeout_s), wall_unix_ns)
            gpus.extend(sim_gpus)
        elif endpoint == "api_ps":
            engines.append(parse_ollama_ps(get_json(url, self._timeout_s), wall_unix_ns, self.kind))
        else:
            status, body = http_get(url, self._timeout_s)
            if status != 200:
                raise EngineFormatError(f"HTTP {status}")
            engines.append(
                parse_vllm_metrics(body.decode("utf-8", "replace"), wall_unix_ns, self.kind)
            )

    def _detect(self, wall_unix_ns: int) -> None:
        now_s = self._monotonic_s()
        if now_s - self._last_detect_s < _DETECT_EVERY_S:
            return
        self._last_detect_s = now_s
        found = self._probe_sim() or (self.engine == "auto" and self._probe_native())
        if found:
            self._failing.pop("detect", None)
            names = ", ".join(_PATHS[e] for e in self._endpoints)
            self._note(wall_unix_ns, f"engine {self.kind} at {self.root}: scraping {names}")
        else:
            wanted = "/sim/gpu" if self.engine == "sim" else "/sim/gpu, /api/ps or /metrics"
            self._fail("detect", wall_unix_ns, f"no {wanted} answers at {self.root} yet; retrying")

    def _probe_sim(self) -> bool:
        body = self._try_json("/sim/gpu")
        if body is None:
            return False
        try:
            kind, _ = parse_sim_gpu(body, 0)
        except EngineFormatError:
            return False
        self.kind = kind
        # A simulator imitating one engine is scraped like it; a generic one on all it serves.
        natives = [_NATIVE[kind]] if kind in _NATIVE else self._answering_natives()
        self._endpoints = ["sim_gpu", *natives]
        return True

    def _probe_native(self) -> bool:
        natives = self._answering_natives()
        if not natives:
            return False
        self._endpoints = natives[:1]  # a real engine is one or the other; Ollama first
        self.kind = "ollama" if natives[0] == "api_ps" else "vllm"
        return True

    def _answering_natives(self) -> list[Endpoint]:
        found: list[Endpoint] = []
        body = self._try_json("/api/ps")
        if isinstance(body, dict) and isinstance(body.get("models"), list):
            found.append("api_ps")
        try:
            status, text = http_get(self.root + "/metrics", self._timeout_s)
        except OSError:
            return found
        if status == 200 and b"vllm:" in text:
            found.append("metrics")
        return found

    def _try_json(self, path: str) -> Any:
        try:
            return get_json(self.root + path, self._timeout_s)
        except (OSError, EngineFormatError):
            return None

    def _fail(self, key: str, wall_unix_ns: int, message: str) -> None:
        if self._failing.get(key) != message:
            self._failing[key] = message
            self._note(wall_unix_ns, message)

    def _note(self, wall_unix_ns: int, message: str) -> None:
        self._notices.append(Notice(wall_unix_ns, "engine", redact_text(message)))


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)  # urllib's URLError wraps the socket error
    return str(reason if reason is not None else exc) or type(exc).__name__
