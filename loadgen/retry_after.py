"""Retry-After: how long a server asked a client to wait before its next request.

Read as the official OpenAI client reads it: `retry-after-ms` first, then `Retry-After` as
seconds or as an HTTP date. Pure: the caller passes the header values and the wall clock.
"""

from __future__ import annotations

import email.utils
import math

# Answers after which a user waits for the server's Retry-After before its next request.
WAIT_STATUSES = (429, 503)
MAX_WAIT_S = 60.0  # a longer ask is taken as this: a load run should not go silent for hours
# Without an ask: the OpenAI client's retry back-off (openai._constants)
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0


def retry_after_s(
    retry_after: str | None, retry_after_ms: str | None = None, now_unix_s: float = 0.0
) -> float | None:
    """Seconds the server asked for (>= 0); None if it asked nothing readable.

    >>> retry_after_s("2"), retry_after_s(None, "250")
    (2.0, 0.25)
    >>> retry_after_s("Wed, 21 Oct 2015 07:28:05 GMT", now_unix_s=1445412480.0)
    5.0
    """
    if retry_after_ms:
        ms = _finite(retry_after_ms)
        if ms is not None:
            return max(0.0, ms / 1000.0)
    if not retry_after:
        return None
    seconds = _finite(retry_after)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(retry_after.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - now_unix_s)


def wait_s(
    http_status: int | None, asked_s: float | None, refusals_in_row: int = 1, jitter: float = 1.0
) -> float:
    """How long a user waits after an answer: for 429 and 503, the server's ask, capped; with no
    ask, the official OpenAI client's back-off (0.5 s doubled per refusal in a row, at most 8 s,
    times its jitter in (0.75, 1]), so that a refused user does not hammer a full server (Ollama
    answers 503 "server busy" without a Retry-After).

    >>> wait_s(503, None), wait_s(503, None, 3), wait_s(503, None, 9), wait_s(500, None)
    (0.5, 2.0, 8.0, 0.0)
    """
    if http_status not in WAIT_STATUSES:
        return 0.0
    if asked_s is None:
        backoff_s = INITIAL_BACKOFF_S * 2.0 ** max(refusals_in_row - 1, 0)
        return min(backoff_s, MAX_BACKOFF_S) * jitter
    return min(asked_s, MAX_WAIT_S)


def _finite(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
