"""Under gevent's monkey-patching the sink's flusher is a greenlet whose HTTP write yields.

A monkey-patched process writes to a loopback server that holds each response for 2 s; a ticker
greenlet must keep running meanwhile. Were the write blocking, the hub would freeze with it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.integration.test_influx_sink import Scripted

SCRIPT = """
from gevent import monkey; monkey.patch_all()
import sys, tempfile, threading, time
from pathlib import Path
import gevent
from loadgen.sinks.influx import InfluxSink
from loadgen.sinks.influx_settings import InfluxSettings
from tests.integration.test_influx_sink import request_points

assert monkey.is_module_patched("threading")
settings = InfluxSettings(url=sys.argv[1], flavour="v1", db="d", flush_interval_s=0.05)
sink = InfluxSink(settings, Path(tempfile.mkdtemp()) / "s.lp").start()
sink.write(request_points(100))
ticks = 0
while sink.report().written == 0 and ticks < 2000:
    gevent.sleep(0.005)
    ticks += 1
report = sink.close(timeout_s=5)
print(ticks, report.written)
"""


@pytest.fixture
def slow_server() -> Iterator[Scripted]:
    server = Scripted([], delay_s=2.0)
    yield server
    server.close()


def test_flusher_yields_while_its_request_is_in_flight(slow_server: Scripted) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, slow_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ticks, written = map(int, done.stdout.split())
    assert written == 100 and slow_server.requests == 1
    # 2 s of server delay holds ~400 ticks of 5 ms if the hub keeps running; a blocking
    # write would let at most a couple through before the response arrived.
    assert ticks >= 100
