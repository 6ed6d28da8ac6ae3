"""What the engine did for one request, in the numbers both wire formats report at the end."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outcome:
    """Counts and server-side durations (ns) of one finished generation."""

    tokens_in: int
    tokens_out: int
    finish_reason: str  # "stop" or "length"
    total_ns: int  # arrival until the last token
    load_ns: int  # before the request entered the engine queue (Ollama's load_duration)
    prefill_ns: int  # the step that produced the first token (prompt_eval_duration)
    eval_ns: int  # first token until the last token (eval_duration)

    def usage(self, tokens_out: int | None = None) -> dict[str, int]:
        """OpenAI's usage block (tokens_out overrides the count, for continuous usage stats)."""
        out = self.tokens_out if tokens_out is None else tokens_out
        return {
            "prompt_tokens": self.tokens_in,
            "total_tokens": self.tokens_in + out,
            "completion_tokens": out,
        }
