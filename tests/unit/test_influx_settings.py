"""InfluxDB settings: flags over INFLUX_* variables, completeness checks, secrets kept out."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from loadgen.cli.influx_options import (
    influx_options,
    locust_args,
    locust_env,
    settings_from_options,
)
from loadgen.errors import LoadgenError
from loadgen.sinks.influx_http import _outcome, detect_flavour
from loadgen.sinks.influx_settings import InfluxSettings, settings_from
from loadgen.summary import SinkReport

TOKEN = "tok-SECRET-123"
PASSWORD = "pw-SECRET-456"


def test_no_url_means_off() -> None:
    assert settings_from({}, {}) is None


def test_flags_win_over_environment() -> None:
    env = {"INFLUX_URL": "http://env:8086", "INFLUX_DB": "envdb", "INFLUX_TOKEN": TOKEN}
    s = settings_from({"db": "flagdb", "url": None}, env)
    assert s is not None
    assert (s.url, s.db, s.token, s.flavour) == ("http://env:8086", "flagdb", TOKEN, "auto")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "localhost:8086", "db": "x"}, "must start with http"),
        ({"url": "http://h:1", "flavour": "v3", "db": "x"}, "--influx-flavour"),
        ({"url": "http://h:1", "flavour": "v1"}, "--influx-db"),
        ({"url": "http://h:1", "flavour": "v2", "bucket": "b"}, "--influx-token"),
        ({"url": "http://h:1"}, "--influx-db (v1) or --influx-bucket"),
    ],
)
def test_incomplete_settings_are_one_line_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(LoadgenError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        settings_from(values, {})
    assert "\n" not in str(e.value)


def test_secrets_never_in_repr_redacted_or_locust_args() -> None:
    s = InfluxSettings(
        url=f"http://user:{PASSWORD}@h:8086",
        flavour="v2",
        token=TOKEN,
        org="o",
        bucket="b",
        password=PASSWORD,
    )
    shown = repr(s) + json.dumps(s.redacted()) + " ".join(locust_args(s)) + s.display_url
    assert TOKEN not in shown and PASSWORD not in shown
    assert s.redacted()["token"] == "***"
    assert s.display_url == "http://h:8086"
    assert locust_env(s) == {"INFLUX_TOKEN": TOKEN, "INFLUX_PASSWORD": PASSWORD}
    assert locust_args(s)[:4] == ["--influx-url", s.url, "--influx-flavour", "v2"]


def test_click_options_read_flags_and_environment() -> None:
    seen: list[InfluxSettings | None] = []

    @click.command()
    @influx_options
    def cmd(**options: object) -> None:
        seen.append(settings_from_options(options))

    result = CliRunner().invoke(
        cmd, ["--influx-url", "http://h:1", "--influx-flavour", "v1"], env={"INFLUX_DB": "d"}
    )
    assert result.exit_code == 0, result.output
    assert seen[0] == InfluxSettings(url="http://h:1", flavour="v1", db="d")


def test_flavour_detection_from_ping_version() -> None:
    v1_only = InfluxSettings(url="http://h", db="d")
    both = InfluxSettings(url="http://h", db="d", bucket="b")
    assert detect_flavour("1.6.7~rc0", both) == "v1"
    assert detect_flavour("v2.7.10", both) == "v2"
    assert detect_flavour("3.0.1", v1_only) == "v1"  # 3.x also serves /write
    assert detect_flavour("", InfluxSettings(url="http://h", bucket="b")) == "v2"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (204, "ok"),
        (429, "retry"),
        (503, "retry"),
        (400, "reject"),
        (401, "refused"),
        (404, "refused"),
    ],
)
def test_status_classes(status: int, kind: str) -> None:
    outcome = _outcome(status, b'{"error":"x"}', "3")
    assert outcome.kind == kind
    if kind == "retry":
        assert outcome.retry_after_s == 3.0


def test_reports_add_up() -> None:
    a = SinkReport(written=5, spilled=1, retries=2, spool_path="a.lp")
    b = SinkReport(written=3, dropped=0, rejected=4, last_error="HTTP 400")
    total = a + b
    assert (total.written, total.spilled, total.rejected, total.retries) == (8, 1, 4, 2)
    assert total.spool_path == "a.lp" and total.last_error == "HTTP 400"
