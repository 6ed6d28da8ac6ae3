"""A simple deterministic tokenizer shared by the simulator and the workload generator.

One token is one word or one punctuation mark. It is not any model's tokenizer; it only has to be
deterministic, cheap, and the same on both sides of the wire so that tests can compare counts.
"""

from __future__ import annotations

import random
import re

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")

# Plausible English filler; generated text cycles through it in a seeded, non-repeating order.
_FILLER = """the model answers a question about how the engine schedules requests when many users
    arrive at once and each one waits for its first token while the batch grows larger so the
    throughput rises until memory runs out then latency climbs because queued prompts must wait
    for free slots in the cache which holds keys and values for every sequence that is running
    on the device during decoding steps that emit one token for each active stream per iteration
    of the scheduler loop measured in milliseconds by clients that record every frame they read
    from the server over a local network connection with streaming responses encoded as events
    or lines of json describing content reasoning usage and timing fields"""
WORDS: tuple[str, ...] = tuple(_FILLER.split())


def count_tokens(text: str) -> int:
    """Number of tokens in `text` under this tokenizer."""
    return len(_TOKEN_RE.findall(text))


def words(n_tokens: int, seed: int) -> list[str]:
    """`n_tokens` plausible words (each exactly one token), reproducible from `seed`."""
    return random.Random(seed).choices(WORDS, k=n_tokens)


def text_of(n_tokens: int, seed: int) -> str:
    """A space-joined text of exactly `n_tokens` tokens."""
    return random_text(random.Random(seed), n_tokens)


def random_text(rng: random.Random, n_tokens: int) -> str:
    """A space-joined text of exactly `n_tokens` tokens drawn with `rng` (a generator of its
    own per text would cost as much as the drawing)."""
    return " ".join(rng.choices(WORDS, k=n_tokens))
