"""Retry-After as seconds, milliseconds or an HTTP date; the wait a user takes from it."""

from __future__ import annotations

import pytest

from loadgen.retry_after import MAX_WAIT_S, retry_after_s, wait_s

DATE = "Wed, 21 Oct 2015 07:28:05 GMT"
DATE_UNIX_S = 1445412485.0


@pytest.mark.parametrize(
    ("header", "header_ms", "want"),
    [
        ("2", None, 2.0),
        (" 1.5 ", None, 1.5),
        ("2", "250", 0.25),  # retry-after-ms wins, as in the OpenAI client
        ("2", "soon", 2.0),
        ("-3", None, 0.0),
        (DATE, None, 5.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", None, 0.0),  # a date already past
        ("soon", None, None),
        ("nan", None, None),
        ("inf", None, None),
        (None, None, None),
        ("", None, None),
    ],
)
def test_retry_after_s(header: str | None, header_ms: str | None, want: float | None) -> None:
    assert retry_after_s(header, header_ms, DATE_UNIX_S - 5.0) == want


def test_a_user_waits_only_after_429_and_503_and_never_over_the_cap() -> None:
    assert wait_s(429, 2.0) == 2.0
    assert wait_s(503, 1.0) == 1.0
    assert wait_s(500, 2.0) == 0.0
    assert wait_s(None, 2.0) == 0.0
    assert wait_s(429, 3600.0) == MAX_WAIT_S


def test_a_refusal_without_an_ask_backs_off_as_the_openai_client_does() -> None:
    """0.5 s, doubled per refusal in a row, at most 8 s, times the jitter; never after a 500."""
    assert [wait_s(503, None, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert wait_s(429, None, 2, jitter=0.75) == 0.75
    assert wait_s(500, None, 3) == 0.0
