"""OpenAI/vLLM wire format: SSE `chat.completion.chunk` / `text_completion` frames and bodies.

As vLLM sends them: a role-only first chat chunk (`delta: {role, content: ""}`), one chunk per
token, `finish_reason` on the chunk of the last token, a usage-only chunk (`choices: []`) when
`stream_options.include_usage`, `usage` on every chunk with `continuous_usage_stats`, then
`data: [DONE]`.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from loadgen.sim.bodies import SimRequest
from loadgen.sim.outcome import Outcome

DONE = b"data: [DONE]\n\n"


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


@functools.lru_cache(maxsize=4096)
def json_str(text: str) -> bytes:
    """A JSON string literal; cached because generated text reuses a small vocabulary."""
    return json.dumps(text).encode()


class OpenAIFormat:
    """Frames for one response of /v1/chat/completions or /v1/completions."""

    def __init__(self, req: SimRequest, request_id: str) -> None:
        self.req = req
        self.chat = req.kind == "chat"
        prefix = "chatcmpl-" if self.chat else "cmpl-"
        self.id = request_id if request_id.startswith(prefix) else prefix + request_id
        self.created = int(time.time())
        self.object = "chat.completion.chunk" if self.chat else "text_completion"
        # The common chunk (no finish_reason, no usage) is assembled from fixed bytes around the
        # token text: identical to json.dumps of the dict, at a fraction of the cost.
        head = json.dumps(
            {"id": self.id, "object": self.object, "created": self.created, "model": req.model},
            separators=(",", ":"),
        )[:-1].encode()
        field = b'"delta":{"content":' if self.chat else b'"text":'
        self._pre = b"data: " + head + b',"choices":[{"index":0,' + field
        close = b"}" if self.chat else b""
        self._post = close + b',"logprobs":null,"finish_reason":null}]}\n\n'

    def _chunk(self, choice: dict[str, Any], tokens_out: int | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.req.model,
            "choices": [choice],
        }
        if self.req.continuous_usage and tokens_out is not None:
            chunk["usage"] = {
                "prompt_tokens": self.req.tokens_in,
                "total_tokens": self.req.tokens_in + tokens_out,
                "completion_tokens": tokens_out,
            }
        return chunk

    def _choice(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            return {
                "index": 0,
                "delta": {"content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def head(self) -> bytes:
        """The role-only first chunk of a chat stream (nothing for completions)."""
        if not self.chat:
            return b""
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        return _sse(self._chunk(choice, 0))

    def tokens(self, texts: list[str], done_before: int, finish_reason: str | None) -> bytes:
        """One chunk per token; the last one carries finish_reason when given."""
        frames = []
        last = len(texts) - 1
        fast = not self.req.continuous_usage
        for i, text in enumerate(texts):
            reason = finish_reason if i == last else None
            if fast and reason is None:
                frames.append(self._pre + json_str(text) + self._post)
            else:
                frames.append(_sse(self._chunk(self._choice(text, reason), done_before + i + 1)))
        return b"".join(frames)

    def tail(self, outcome: Outcome) -> bytes:
        """The usage-only chunk (if asked for) and [DONE]."""
        if not self.req.include_usage:
            return DONE
        chunk = {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.req.model,
            "choices": [],
            "usage": outcome.usage(),
        }
        return _sse(chunk) + DONE

    def malformed(self) -> bytes:
        """A frame cut in the middle of its JSON, as a broken proxy might deliver it."""
        return b'data: {"id":"' + self.id.encode() + b'","object":"' + self.object.encode() + b'",'

    def body(self, text: str, outcome: Outcome) -> dict[str, Any]:
        """The non-streaming response."""
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": []},
                "logprobs": None,
                "finish_reason": outcome.finish_reason,
                "stop_reason": None,
            }
        else:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": outcome.finish_reason,
                "stop_reason": None,
            }
        return {
            "id": self.id,
            "object": "chat.completion" if self.chat else "text_completion",
            "created": self.created,
            "model": self.req.model,
            "choices": [choice],
            "usage": outcome.usage(),
        }


def openai_error(engine: str, status: int, message: str, err_type: str) -> dict[str, Any]:
    """vLLM's error body, or OpenAI's `{"error": {...}}` (what Ollama's /v1 routes send)."""
    if engine == "vllm":
        return {
            "object": "error",
            "message": message,
            "type": err_type,
            "param": None,
            "code": status,
        }
    return {"error": {"message": message, "type": err_type, "param": None, "code": None}}
