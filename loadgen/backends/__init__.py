"""Wire protocols: request bodies and incremental stream parsers (pure, no I/O)."""

from __future__ import annotations

from loadgen.backends.base import ChatRequest, StreamAccumulator, StreamResult
from loadgen.backends.framing import NdjsonDecoder, SseDecoder, StreamParser
from loadgen.backends.ollama import OllamaBackend
from loadgen.backends.openai import OpenAIBackend
from loadgen.errors import LoadgenError

APIS: tuple[str, ...] = ("openai", "ollama")

__all__ = [
    "APIS",
    "ChatRequest",
    "NdjsonDecoder",
    "OllamaBackend",
    "OpenAIBackend",
    "SseDecoder",
    "StreamAccumulator",
    "StreamParser",
    "StreamResult",
    "backend_for",
]


def backend_for(api: str) -> OpenAIBackend | OllamaBackend:
    """The backend of a wire protocol, "openai" or "ollama"; both satisfy the swarm's
    `loadgen.swarm.exchange.WireBackend`."""
    if api == "openai":
        return OpenAIBackend()
    if api == "ollama":
        return OllamaBackend()
    raise LoadgenError(f"unknown api {api!r}; valid: {', '.join(APIS)}")
