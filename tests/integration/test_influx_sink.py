"""InfluxSink against a real influxd, and a loopback server scripted to answer 429/503/400/401.

Every point handed to the sink is accounted for: written, spilled, or rejected; never dropped.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen import schema
from loadgen.line_protocol import LinePoint
from loadgen.records import RequestRecord
from loadgen.results import read_sink_reports
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_settings import InfluxSettings
from tests.fixtures.influx import Influxd
from tests.fixtures.net import LOOPBACK, free_port

# A dead flusher thread is a failure, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

TAGS = schema.run_tags("run-sink", "sim", "m", "openai", "ChatUser")
T0 = 1_760_000_000_000_000_000


def request_points(n: int, worker: str = "w1") -> list[LinePoint]:
    records = [
        RequestRecord(
            run_id="run-sink",
            api="openai",
            model="m",
            user_class="ChatUser",
            worker=worker,
            stage_index=0,
            stage_users=1,
            seq=i,
            wall_send_unix_ns=T0 + i * 1_000_000,
            t_send_ns=0,
            t_first_ns=40_000_000,
            t_last_ns=90_000_000,
            t_end_ns=91_000_000,
            frame_times_ns=(40_000_000, 90_000_000),
            n_out=2,
        )
        for i in range(n)
    ]
    return [schema.request_point(r, TAGS) for r in records]


class Scripted:
    """A loopback HTTP server answering writes from a script, then 204; keeps what it got."""

    def __init__(
        self,
        script: list[tuple[int, dict[str, str]]],
        repeat_last: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        self.script = list(script)
        self.delay_s = delay_s
        self.repeat_last = repeat_last
        self.lines: list[str] = []
        self.requests = 0
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, self.port), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = gzip.decompress(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                time.sleep(outer.delay_s)
                if outer.script:
                    status, headers = outer.script[0]
                    if len(outer.script) > 1 or not outer.repeat_last:
                        outer.script.pop(0)
                else:
                    status, headers = 204, {}
                if status == 204:
                    outer.lines += body.decode().splitlines()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    servers: list[Scripted] = []
    yield servers
    for s in servers:
        s.close()


def settings(url: str, **kw: object) -> InfluxSettings:
    base: dict[str, object] = {
        "flavour": "v1",
        "db": "d",
        "batch_points": 500,
        "backoff_max_s": 0.2,
    }
    return InfluxSettings(url=url, **{**base, **kw})  # type: ignore[arg-type]


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_every_point_reaches_influxd(influxd: tuple[Influxd, str], tmp_path: Path) -> None:
    server, db = influxd
    sink = InfluxSink(
        settings(server.url, db=db), tmp_path / "influx-spool.lp", tmp_path / "influx.json"
    ).start()
    points = request_points(3000)
    for start in range(0, len(points), 7):
        sink.write(points[start : start + 7])
    report = sink.close(timeout_s=10)
    assert (report.written, report.spilled, report.dropped) == (3000, 0, 0)
    assert server.count(db, "llm_request", "seq") == 3000
    assert json.loads((tmp_path / "influx.json").read_text())["written"] == 3000
    assert read_sink_reports(tmp_path) == report
    assert not (tmp_path / "influx-spool.lp").exists()


def test_429_and_503_are_retried_honouring_retry_after(
    scripted: list[Scripted], tmp_path: Path
) -> None:
    server = Scripted([(429, {"Retry-After": "0.1"}), (503, {}), (500, {})])
    scripted.append(server)
    sink = InfluxSink(settings(server.url), tmp_path / "influx-spool.lp").start()
    sink.write(request_points(1200))
    report = sink.close(timeout_s=10)
    assert report.written == 1200 and report.retries == 3 and report.spilled == 0
    assert len(server.lines) == 1200


@pytest.mark.parametrize(
    ("status", "kept_in"),
    [(400, "influx-rejected.lp"), (401, "influx-spool.lp"), (404, "influx-spool.lp")],
)
def test_client_errors_are_reported_and_kept_not_retried(
    scripted: list[Scripted],
    tmp_path: Path,
    status: int,
    kept_in: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Scripted([(status, {})], repeat_last=True)
    scripted.append(server)
    sink = InfluxSink(settings(server.url), tmp_path / "influx-spool.lp").start()
    with caplog.at_level(logging.WARNING, "loadgen.influx"):
        sink.write(request_points(1000))
        report = sink.close(timeout_s=10)
    assert server.requests == 2  # two batches of 500, each tried once
    assert report.written == 0 and report.failed_batches == 2 and report.dropped == 0
    assert report.rejected + report.spilled == 1000
    assert lines_in(tmp_path / kept_in) == 1000
    assert f"HTTP {status}" in report.last_error and f"HTTP {status}" in caplog.text


def test_overflow_and_a_dead_server_spill_everything(tmp_path: Path) -> None:
    dead = f"http://{LOOPBACK}:{free_port()}"  # nothing listens: connection refused
    s = settings(dead, buffer_points=300, batch_points=100, retry_window_s=0.5)
    sink = InfluxSink(s, tmp_path / "influx-spool.lp").start()
    points = request_points(2000)
    for start in range(0, 2000, 50):
        sink.write(points[start : start + 50])
    report = sink.close(timeout_s=1)
    assert report.written == 0 and report.dropped == 0
    assert report.spilled == 2000
    assert len(set((tmp_path / "influx-spool.lp").read_text().splitlines())) == 2000
    assert "connection error" in report.last_error


def test_points_written_after_close_are_spilled(tmp_path: Path) -> None:
    sink = InfluxSink(settings(f"http://{LOOPBACK}:{free_port()}"), tmp_path / "s.lp").start()
    sink.close(timeout_s=0.1)
    sink.write(request_points(3))
    assert lines_in(tmp_path / "s.lp") == 3 and sink.report().spilled == 3


def test_lazy_points_are_built_by_the_flusher_and_a_broken_one_is_counted(
    influxd: tuple[Influxd, str], tmp_path: Path
) -> None:
    server, db = influxd
    points = request_points(10)

    def broken() -> LinePoint:
        raise ValueError("bad record")

    sink = InfluxSink(settings(server.url, db=db), tmp_path / "influx-spool.lp").start()
    sink.write([functools.partial(lambda p: p, p) for p in points[:5]])
    sink.write([broken, *points[5:]])
    report = sink.close()
    assert (report.written, report.dropped) == (10, 1)  # dropped is never silent
    assert "cannot build a point: ValueError" in report.last_error
    assert server.count(db, "llm_request", "seq") == 10
