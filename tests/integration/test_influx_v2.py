"""The v2 write path end to end: loadgen → v2 API (a loopback proxy) → a real influxd.

Debian's influxd is 1.6 and has no /api/v2/write, so a loopback proxy translates the documented
v2 requests (token, org, bucket, gzip) onto /write; see its docstring for what this proves.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from loadgen.errors import LoadgenError
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_http import preflight
from loadgen.sinks.influx_settings import InfluxSettings
from tests.fixtures.influx_v2_proxy import V2_ORG, V2_TOKEN, V2Proxy
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running
from tests.integration.test_influx_sink import request_points

# A dead flusher thread is a failure, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def v2(proxy: V2Proxy, bucket: str, **kw: object) -> InfluxSettings:
    base: dict[str, object] = {"flavour": "auto", "token": V2_TOKEN, "org": V2_ORG}
    return InfluxSettings(url=proxy.url, bucket=bucket, **{**base, **kw})  # type: ignore[arg-type]


def test_sink_writes_through_the_v2_api(
    influx_v2: tuple[V2Proxy, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, db = influx_v2
    resolved = preflight(v2(proxy, db, batch_points=400))
    assert resolved.flavour == "v2"  # detected from /ping's X-Influxdb-Version: v2.x
    with caplog.at_level(logging.DEBUG, "loadgen.influx"):
        sink = InfluxSink(resolved, tmp_path / "influx-spool.lp", tmp_path / "influx.json")
        sink.start().write(request_points(2000))
        report = sink.close()
    assert (report.written, report.spilled, report.dropped) == (2000, 0, 0)
    assert proxy.writes == 5
    assert proxy.upstream.count(db, "llm_request", "seq") == 2000
    assert V2_TOKEN not in caplog.text + (tmp_path / "influx.json").read_text()


def test_v2_preflight_errors(influx_v2: tuple[V2Proxy, str]) -> None:
    proxy, db = influx_v2
    with pytest.raises(LoadgenError, match=r"bucket 'nope' .* does not exist"):
        preflight(v2(proxy, "nope"))
    with pytest.raises(LoadgenError, match="rejected the token") as exc:
        preflight(v2(proxy, db, token="not-it"))
    assert "not-it" not in str(exc.value)
    with pytest.raises(LoadgenError, match="needs --influx-token"):
        preflight(v2(proxy, db, token=""))


def test_replay_through_the_v2_api(influx_v2: tuple[V2Proxy, str], tmp_path: Path) -> None:
    proxy, db = influx_v2
    spool = tmp_path / "influx-spool.lp"
    spool.write_text("".join(p.to_line() + "\n" for p in request_points(300)))
    cmd = loadgen_cmd(
        "replay",
        str(spool),
        "--influx-url",
        proxy.url,
        "--influx-flavour",
        "v2",
        "--influx-org",
        V2_ORG,
        "--influx-bucket",
        db,
    )
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "INFLUX_TOKEN": V2_TOKEN},
    )
    assert done.returncode == 0, done.stderr
    assert proxy.upstream.count(db, "llm_request", "seq") == 300
    assert V2_TOKEN not in done.stdout + done.stderr


def test_swarm_run_through_the_v2_api_keeps_the_token_secret(
    influx_v2: tuple[V2Proxy, str], tmp_path: Path
) -> None:
    """`loadgen swarm --influx-token …` against the v2 API: every request stored, and the
    token appears in no output and no file of the results directory."""
    proxy, db = influx_v2
    port = free_port()
    results = tmp_path / "run"
    sim = loadgen_cmd("sim", "--port", str(port), "--time-scale", "0.25")
    args = ["--host", f"http://{LOOPBACK}:{port}", "--users", "2", "--run-time", "3s"]
    args += ["--results", str(results), "--progress", "off", "--influx-url", proxy.url]
    args += ["--influx-org", V2_ORG, "--influx-bucket", db, "--influx-token", V2_TOKEN]
    with running(sim, ready_url=f"http://{LOOPBACK}:{port}/v1/models", log=tmp_path / "sim.log"):
        done = subprocess.run(
            loadgen_cmd("swarm", *args), capture_output=True, text=True, timeout=120, check=False
        )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (results / "requests.jsonl").read_text().splitlines()
    assert proxy.upstream.count(db, "llm_request", "seq") == len(lines) > 0
    assert V2_TOKEN not in done.stdout + done.stderr
    for path in results.rglob("*"):
        if path.is_file():
            assert V2_TOKEN not in path.read_text(errors="replace"), path.name
