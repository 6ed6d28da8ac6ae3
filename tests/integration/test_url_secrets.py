"""Credentials in a URL (`user:password@`, `?u=&p=`) are used, never stored or printed: a real
`loadgen swarm` writing to an influxd with auth on, and the error lines of bad targets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.influx import ADMIN_PASSWORD, ADMIN_USER, Influxd
from tests.fixtures.net import LOOPBACK, free_port
from tests.fixtures.swarm import SwarmRun, run_swarm

HOST_SECRET = "host-SECRET-pw"


def leaks(run: SwarmRun, secret: str) -> list[str]:
    """Where `secret` shows: stdout, stderr, or the path of a results file holding it."""
    found = [
        name for name, text in (("stdout", run.stdout), ("stderr", run.stderr)) if secret in text
    ]
    if run.results.is_dir():
        files = (p for p in run.results.rglob("*") if p.is_file())
        found += [str(p) for p in files if secret.encode() in p.read_bytes()]
    return found


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_influx_url_credentials_are_used_and_never_kept(
    influxd_factory: Callable[..., Influxd], tmp_path: Path, form: str
) -> None:
    server = influxd_factory(auth=True)
    db = server.create_db()
    host = server.url.removeprefix("http://")
    url = {
        "userinfo": f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@{host}",
        "query": f"http://{host}/?u={ADMIN_USER}&p={ADMIN_PASSWORD}",
    }[form]
    args = ("--users", "1", "--run-time", "1s", "--output-tokens", "8", "--sidecar")
    run = run_swarm(
        tmp_path / "run", "--sim", "fast", *args, "--influx-url", url, "--influx-db", db
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert server.count(db, "llm_request", "n_out") > 0  # the credentials reached influxd
    assert leaks(run, ADMIN_PASSWORD) == []
    shown = {"userinfo": f"http://***@{host}", "query": f"http://{host}/?u=***&p=***"}[form]
    assert shown in run.meta()["argv"]


@pytest.mark.parametrize(
    "args",
    [
        ("--host", f"http://user:{HOST_SECRET}@{LOOPBACK}:{free_port()}", "--api", "openai"),
        ("--host", f"http://{LOOPBACK}:{free_port()}/?api_key={HOST_SECRET}", "--api", "openai"),
        ("--sim", "fast", "--influx-url", f"ftp://user:{HOST_SECRET}@{LOOPBACK}:1"),
        ("--sim", "fast", "--influx-url", f"user:{HOST_SECRET}@{LOOPBACK}:1"),
    ],
    ids=["host-userinfo", "host-query", "influx-scheme", "influx-no-scheme"],
)
def test_a_bad_url_is_one_error_line_without_its_credentials(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    run = run_swarm(tmp_path / "run", "--model", "m", "--run-time", "1s", *args)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("loadgen: error: "), run.stderr
    assert leaks(run, HOST_SECRET) == []
