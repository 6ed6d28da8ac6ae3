"""The master's (or local runner's) scrapes of the target's /metrics: at each level's floor, on
its interval grid after it (where a steady window may start), and at its end; each level's
server-side breakdown comes from the two nearest its steady window's bounds.

An engine without /metrics (Ollama, llama.cpp without --metrics) or without vLLM's metrics is
left alone after the first try, quietly; one that answers garbage gets one warning line. Each
GET runs in its own greenlet with a bounded timeout, so the event loop never waits on it.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import gevent

from loadgen import __version__
from loadgen.breakdown import window_fields
from loadgen.levels import Level
from loadgen.prometheus import MetricsFormatError, Snapshot, parse_snapshot

NS_PER_S = 1_000_000_000
TIMEOUT_S = 2.0
WAIT_S = TIMEOUT_S + 0.5  # a level's summary waits this long at most for its end's scrape
USER_AGENT = f"loadgen/{__version__} (level breakdown; pid {{pid}})"  # tests: who scraped


def _warn(line: str) -> None:
    print(f"loadgen: warning: {line}", file=sys.stderr, flush=True)


def metrics_url(target: str) -> str:
    """The server root's /metrics: an OpenAI base URL such as http://h:8000/v1 loses its /v1."""
    return target.rstrip("/").removesuffix("/v1") + "/metrics"


class ServerScrape:
    """Snapshots of the target's vLLM metrics, taken around each level's steady window."""

    def __init__(self, target: str, interval_s: float, warn: Callable[[str], None] = _warn) -> None:
        self.url = metrics_url(target)
        self.step_ns = max(int(interval_s * NS_PER_S), NS_PER_S // 10)
        self.warn = warn
        self.state = "unknown"  # "on" once vLLM metrics came back, "off" when there are none
        self.snapshots: list[Snapshot] = []
        self._grid: gevent.Greenlet | None = None
        self._pending: list[gevent.Greenlet] = []
        self._failure_told = False

    # scheduling ----------------------------------------------------------------------------
    def follow(self, level: Level | None) -> None:
        """`level`'s users all run: scrape at its floor and then every interval, until it ends."""
        self._stop_grid()
        floor = None if level is None else level.floor_unix_ns
        if floor is not None and self.state != "off":
            self._grid = gevent.spawn(self._scrape_grid, floor)

    def level_ended(self) -> None:
        """The running level ended: scrape now (its window's end, the next level's start)."""
        self._stop_grid()
        if self.state != "off":
            self._pending.append(gevent.spawn(self.scrape))

    def stop(self) -> None:
        self._stop_grid()

    def wait(self) -> None:
        """Let scrapes in flight finish (bounded by their timeout)."""
        pending, self._pending = self._pending, []
        gevent.joinall(pending, timeout=WAIT_S)

    def _stop_grid(self) -> None:
        if self._grid is not None:
            self._grid.kill(block=False)
            self._grid = None

    def _scrape_grid(self, floor_unix_ns: int) -> None:
        at = floor_unix_ns
        while self.state != "off":
            gevent.sleep(max(0, at - time.time_ns()) / NS_PER_S)
            self.scrape()
            now = time.time_ns()
            at += self.step_ns * max(1, -(-(now - at) // self.step_ns))

    # one scrape ----------------------------------------------------------------------------
    def scrape(self) -> None:
        """GET /metrics once; its snapshot is kept while vLLM metrics come back."""
        if self.state == "off":
            return
        sent_unix_ns = time.time_ns()
        try:
            status, body = _get(self.url)
        except (OSError, ValueError) as exc:
            self._failed(f"{exc}")
            return
        # The server built the page somewhere between the GET and its answer (a busy API server
        # answers late): the snapshot is stamped at the middle, whose error is at most half the
        # GET's time either way. A request's first token that comes that close to a level's
        # bound may count on the other side of it in vLLM's histograms than in the client's.
        taken_unix_ns = (sent_unix_ns + time.time_ns()) // 2
        if status != 200:
            self._failed(f"HTTP {status}")
            return
        try:
            snapshot = parse_snapshot(body.decode("utf-8", "replace"), taken_unix_ns)
        except MetricsFormatError as exc:
            self.state = "off"
            self.warn(f"{self.url} {exc}; no server-side breakdown for this run")
            return
        if not snapshot.sums:
            self.state = "off"  # not vLLM (llama.cpp's metrics, an empty page): nothing to say
            return
        self.state = "on"
        self.snapshots.append(snapshot)

    def _failed(self, why: str) -> None:
        """A first scrape that fails means no /metrics here (quietly); a later one loses the
        breakdown of the levels it bounds (said once)."""
        if self.state == "unknown":
            self.state = "off"
        elif not self._failure_told:
            self._failure_told = True
            self.warn(f"{self.url}: {why}; levels it bounds lack the server-side breakdown")

    # per level -----------------------------------------------------------------------------
    def fields(self, level: Level) -> dict[str, Any]:
        """The server-side LevelSummary fields of `level`'s steady window ({} without)."""
        start, end = level.window_start_unix_ns, level.window_end_unix_ns
        if start is None or end is None or not self.snapshots:
            return {}
        fields = window_fields(self.snapshots, start, end, self.step_ns // 2)
        self.snapshots = [s for s in self.snapshots if s.wall_unix_ns >= end - self.step_ns]
        return fields


def _get(url: str) -> tuple[int, bytes]:
    """(status, body); under Locust's monkey-patching this only blocks its own greenlet."""
    headers = {"Accept": "text/plain", "User-Agent": USER_AGENT.format(pid=os.getpid())}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
