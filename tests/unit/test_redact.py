"""Credentials out of URLs: userinfo and secret query values, in a URL or in any text."""

from __future__ import annotations

import pytest

from loadgen.errors import LoadgenError
from loadgen.redact import redact_text, redact_url
from loadgen.results import redact_argv
from loadgen.sinks.influx_settings import InfluxSettings


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("http://user:pw@h:8086", "http://***@h:8086"),
        ("http://pw-only@h/x@y", "http://***@h/x@y"),  # an '@' in the path is no userinfo
        ("https://u:p%40ss@h:1/v1?x=1", "https://***@h:1/v1?x=1"),
        ("http://h/?u=me&p=pw&db=x", "http://h/?u=***&p=***&db=x"),
        ("http://h/q?token=t&API-KEY=k&apikey=k2&password=pw#f", None),
        ("http://h/q?db=x&empty=", "http://h/q?db=x&empty="),
        ("user:pw@h:8086", "***@h:8086"),
        ("http://h:8086/write?db=x", "http://h:8086/write?db=x"),
    ],
)
def test_redact_url(url: str, want: str | None) -> None:
    got = redact_url(url)
    assert want is None or got == want
    for secret in ("pw", "p%40ss", "=t&", "=k&", "k2", "me"):
        assert secret not in got


def test_every_url_in_a_text_is_redacted() -> None:
    text = "cannot reach http://a:s1@h:1/version: refused; 'https://h/?token=s2' --x=http://h?p=s3"
    got = redact_text(text)
    assert not any(s in got for s in ("s1", "s2", "s3"))
    assert got.startswith("cannot reach http://***@h:1/version: refused;")


def test_argv_error_lines_and_influx_settings_hold_no_url_credentials() -> None:
    argv = ["loadgen", "--influx-url", "http://u:s1@h:8086", "--host=http://h/?api_key=s2"]
    assert not any("s1" in a or "s2" in a for a in redact_argv(argv))
    assert "s3" not in str(LoadgenError("cannot reach http://u:s3@h:1"))
    settings = InfluxSettings(url="http://h:8086/?u=me&p=s4&token=s5")
    assert (settings.url, settings.user, settings.password) == ("http://h:8086", "me", "s4")
    assert settings.token == "s5"
    assert "s4" not in repr(settings) and "s5" not in str(settings.redacted())
