"""Ollama wire format: NDJSON frames of /api/chat and /api/generate, and the final done frame.

Frames are `{"model", "created_at", "message": {"role", "content"}, "done": false}` (generate
uses `"response"`); the last one has `done: true`, `done_reason` and the durations in ns.
"""

from __future__ import annotations

import json
import time
from typing import Any

from loadgen.sim.bodies import SimRequest
from loadgen.sim.openai_wire import json_str
from loadgen.sim.outcome import Outcome


def created_at() -> str:
    """RFC 3339 UTC with nanoseconds, as Ollama writes it."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + (
        f".{ns % 1_000_000_000:09d}Z"
    )


class OllamaFormat:
    """Frames for one response of /api/chat or /api/generate."""

    def __init__(self, req: SimRequest, request_id: str) -> None:
        self.req = req
        self.chat = req.kind == "chat"
        # Token frames are assembled from fixed bytes (same output as json.dumps of the dict).
        self._pre = b'{"model":' + json_str(req.model) + b',"created_at":"'
        self._mid = b'","message":{"role":"assistant","content":' if self.chat else b'","response":'
        self._post = (b"}" if self.chat else b"") + b',"done":false}\n'

    def _frame(self, text: str) -> dict[str, Any]:
        frame: dict[str, Any] = {"model": self.req.model, "created_at": created_at()}
        if self.chat:
            frame["message"] = {"role": "assistant", "content": text}
        else:
            frame["response"] = text
        return frame

    def head(self) -> bytes:
        return b""

    def tokens(self, texts: list[str], done_before: int, finish_reason: str | None) -> bytes:
        """One NDJSON line per token (Ollama's final frame is separate and carries no text)."""
        pre = self._pre + created_at().encode() + self._mid
        return b"".join(pre + json_str(text) + self._post for text in texts)

    def final(self, text: str, outcome: Outcome) -> dict[str, Any]:
        frame = self._frame(text)
        frame.update(
            {
                "done_reason": outcome.finish_reason,
                "done": True,
                "total_duration": outcome.total_ns,
                "load_duration": outcome.load_ns,
                "prompt_eval_count": outcome.tokens_in,
                "prompt_eval_duration": outcome.prefill_ns,
                "eval_count": outcome.tokens_out,
                "eval_duration": outcome.eval_ns,
            }
        )
        return frame

    def tail(self, outcome: Outcome) -> bytes:
        return json.dumps(self.final("", outcome), separators=(",", ":")).encode() + b"\n"

    def malformed(self) -> bytes:
        return b'{"model":"' + self.req.model.encode() + b'","created_at":"' + b"\n"

    def body(self, text: str, outcome: Outcome) -> dict[str, Any]:
        return self.final(text, outcome)


def ollama_error(message: str) -> dict[str, Any]:
    """Ollama's error body."""
    return {"error": message}
