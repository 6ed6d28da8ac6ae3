"""What every protocol's accumulator tracks: token-bearing frame times, reply text, first error.

N_out estimate (when the server reports no count): the number of token-bearing frames. Engines
stream about one token per frame (vLLM, SGLang, llama.cpp, Ollama, the simulator), and counting
frames does not depend on any model's tokenizer. The count is kept beside the server's own
(`token_frames`), so a level can tell how often the two differ (docs/engine-insight.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.backends.base import StreamResult
from loadgen.records import ErrorType, OllamaTimings, TokenSource

_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Server-reported token counts and their source."""

    n_in: int | None = None
    n_in_source: TokenSource = "none"
    n_out: int | None = None
    n_out_source: TokenSource = "none"


class StreamState:
    """Mutable per-response state shared by the OpenAI and Ollama accumulators."""

    def __init__(self) -> None:
        self.frame_times_ns: list[int] = []
        self.token_frames = 0
        self.t_first_output_ns: int | None = None
        self.text_parts: list[str] = []
        self.finish_reason: str | None = None
        self.ended = False  # saw [DONE] or done:true
        self.error_type: ErrorType | None = None
        self.error_detail: str | None = None

    def token_frame(self, now_ns: int, output: bool, text: str) -> None:
        """A frame carrying content, reasoning or a tool call; `output` is False for reasoning."""
        if output:
            self.content(text, now_ns)
        elif not self.ended:
            self.frame_times_ns.append(now_ns)
            self.token_frames += 1
            if text:
                self.text_parts.append(text)

    def content(self, text: str, now_ns: int) -> None:
        """A frame of output (content or a tool call): the frame almost every stream is made of,
        one call per frame."""
        if self.ended:
            return
        self.frame_times_ns.append(now_ns)
        self.token_frames += 1
        if self.t_first_output_ns is None:
            self.t_first_output_ns = now_ns
        if text:
            self.text_parts.append(text)

    def fail(self, error_type: ErrorType, detail: str) -> None:
        """Record an error; the first one wins."""
        if self.error_type is None:
            self.error_type = error_type
            self.error_detail = " ".join(detail.split())[:_DETAIL_CHARS]

    def result(self, counts: TokenCounts, ollama: OllamaTimings | None = None) -> StreamResult:
        """The StreamResult; a stream that never ended is truncated."""
        if self.error_type is None and not self.ended:
            self.fail("truncated", "stream ended without an end marker")
        times = tuple(self.frame_times_ns)
        n_out, n_out_source = counts.n_out, counts.n_out_source
        if n_out is None:
            n_out, n_out_source = len(times), "estimate" if times else "none"
        return StreamResult(
            t_first_ns=times[0] if times else None,
            t_first_output_ns=self.t_first_output_ns,
            t_last_ns=times[-1] if times else None,
            frame_times_ns=times,
            n_in=counts.n_in,
            n_in_source=counts.n_in_source,
            n_out=n_out,
            n_out_source=n_out_source,
            finish_reason=self.finish_reason,
            text="".join(self.text_parts),
            ok=self.error_type is None,
            error_type=self.error_type,
            error_detail=self.error_detail,
            ollama=ollama,
            token_frames=self.token_frames,
        )


def malformed_detail(raw: bytes) -> str:
    """A one-line preview of an undecodable frame."""
    return "undecodable frame: " + raw[:80].decode("utf-8", "replace")
