"""HTTP to InfluxDB: gzip'd line-protocol writes (v1 `/write`, v2 `/api/v2/write`) and preflight.

Uses urllib3 (shipped with influxdb-client) without its retries: the sink decides what to retry.
Under gevent's monkey-patching its sockets are cooperative, so a write yields to other greenlets.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Literal

import urllib3

from loadgen.errors import LoadgenError
from loadgen.retry_after import retry_after_s
from loadgen.sinks.influx_settings import Flavour, InfluxSettings, check_complete

OutcomeKind = Literal["ok", "retry", "reject", "refused"]
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The fate of one batch.

    ok: stored. retry: 429/5xx/connection error, try again later. reject: 400, the points
    themselves are bad (e.g. a field type conflict). refused: 401/403/404/413..., the
    destination refuses; the points are fine and can be replayed once that is fixed.
    """

    kind: OutcomeKind
    status: int | None
    reason: str  # one line, never containing a secret
    retry_after_s: float | None = None


class InfluxHttp:
    """A small client for one destination; safe to call from one thread or greenlet at a time."""

    def __init__(self, settings: InfluxSettings) -> None:
        if settings.flavour == "auto":
            raise ValueError("resolve the flavour first (preflight)")
        self.settings = settings
        timeout = urllib3.Timeout(connect=min(3.0, settings.timeout_s), read=settings.timeout_s)
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=2, timeout=timeout, retries=False)

    def write(self, body: bytes, gzipped: bool = False) -> WriteOutcome:
        """POST newline-separated line protocol; gzip'd here unless `gzipped` already."""
        path, params = _write_target(self.settings)
        headers = {**_auth_headers(self.settings), "Content-Encoding": "gzip"}
        headers["Content-Type"] = "text/plain; charset=utf-8"
        url = f"{self.settings.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            resp = self._pool.request(
                "POST",
                url,
                body=body if gzipped else gzip.compress(body, compresslevel=1),
                headers=headers,
            )
        except urllib3.exceptions.HTTPError as exc:
            return WriteOutcome("retry", None, _one_line(f"connection error: {type(exc).__name__}"))
        return _outcome(resp.status, resp.data, resp.headers.get("Retry-After"))

    def get(self, path: str, params: dict[str, str]) -> urllib3.BaseHTTPResponse:
        """An authenticated GET (ping, query, bucket lookup); raises urllib3.HTTPError."""
        url = f"{self.settings.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return self._pool.request("GET", url, headers=_auth_headers(self.settings))

    def close(self) -> None:
        self._pool.clear()


def _write_target(s: InfluxSettings) -> tuple[str, dict[str, str]]:
    if s.flavour == "v1":
        params = {"db": s.db, "precision": "ns"}
        if s.rp:
            params["rp"] = s.rp
        return "/write", params
    return "/api/v2/write", {"org": s.org, "bucket": s.bucket, "precision": "ns"}


def _auth_headers(s: InfluxSettings) -> dict[str, str]:
    if s.flavour == "v1" and s.user:
        raw = f"{s.user}:{s.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if s.token:  # v2, or a v1-compatible endpoint of 2.x/3.x that takes a token
        return {"Authorization": f"Token {s.token}"}
    return {}


def _outcome(status: int, data: bytes, retry_after: str | None) -> WriteOutcome:
    if 200 <= status < 300:
        return WriteOutcome("ok", status, "")
    reason = _one_line(f"HTTP {status}: {_error_text(data)}")
    if status in RETRY_STATUSES or status >= 500:
        return WriteOutcome("retry", status, reason, _retry_after_s(retry_after))
    if status == 400:
        return WriteOutcome("reject", status, reason)
    return WriteOutcome("refused", status, reason)


def _retry_after_s(value: str | None) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), read as the chat clients read it."""
    return retry_after_s(value, None, time.time())


def _error_text(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("message") or text)[:200]
    return text[:200]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def detect_flavour(version: str, settings: InfluxSettings) -> Flavour:
    """1.x servers get v1; 2.x/3.x get v2, unless only a database (no bucket) was given."""
    if version.lstrip("v").startswith("1."):
        return "v1"
    if version and settings.bucket:
        return "v2"
    return "v1" if settings.db and not settings.bucket else "v2"


def preflight(settings: InfluxSettings) -> InfluxSettings:
    """Check reachability, credentials and the database/bucket; return settings with the
    flavour resolved. Raises LoadgenError with one line (exit 2) on any failure."""
    probe = InfluxHttp(settings.with_flavour("v1") if settings.flavour == "auto" else settings)
    try:
        version = _ping(probe, settings)
        resolved = settings
        if settings.flavour == "auto":
            resolved = settings.with_flavour(detect_flavour(version, settings))
        check_complete(resolved)
        client = InfluxHttp(resolved)
        try:
            _check_destination(client)
        finally:
            client.close()
        return resolved
    finally:
        probe.close()


def _ping(client: InfluxHttp, settings: InfluxSettings) -> str:
    where = f"InfluxDB at {settings.display_url}"
    try:
        resp = client.get("/ping", {})
    except urllib3.exceptions.HTTPError as exc:
        raise LoadgenError(f"{where} is unreachable ({type(exc).__name__})") from None
    if resp.status not in (200, 204, 401):  # 3.x may want a token even for /ping
        raise LoadgenError(f"{where} does not look like InfluxDB: /ping answered {resp.status}")
    return str(resp.headers.get("X-Influxdb-Version", ""))


def _check_destination(client: InfluxHttp) -> None:
    s = client.settings
    if s.flavour == "v2":
        try:
            resp = client.get("/api/v2/buckets", {"name": s.bucket, "org": s.org})
        except urllib3.exceptions.HTTPError as exc:
            raise LoadgenError(f"InfluxDB at {s.display_url}: {type(exc).__name__}") from None
        if resp.status == 200:
            names = {b.get("name") for b in json.loads(resp.data or b"{}").get("buckets", [])}
            if s.bucket not in names:
                raise LoadgenError(f"InfluxDB {s.target} does not exist at {s.display_url}")
            return
        if resp.status in (401, 403):
            raise LoadgenError(_refusal(s, resp.status, resp.data))
    # v1, and servers without the buckets API (3.x): an empty write checks auth and target.
    outcome = client.write(b"")
    if outcome.kind == "ok" or (outcome.kind == "reject" and s.flavour == "v2"):
        return
    if outcome.status is None:
        raise LoadgenError(f"InfluxDB at {s.display_url} is unreachable ({outcome.reason})")
    raise LoadgenError(_refusal(s, outcome.status, b""))


def _refusal(s: InfluxSettings, status: int, data: bytes) -> str:
    where = f"InfluxDB at {s.display_url}"
    if status in (401, 403):
        what = "token" if s.token and not s.user else "user/password"
        return f"{where} rejected the {what} (HTTP {status})"
    if status == 404:
        return f"InfluxDB {s.target} does not exist at {s.display_url}"
    return f"{where} refused writes to {s.target} (HTTP {status})"
