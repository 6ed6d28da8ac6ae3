"""Where and how to write to InfluxDB: URL, flavour, credentials and batching knobs.

Secrets (token, password) never appear in `repr()`, in `redacted()` or in any error message.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loadgen.errors import LoadgenError
from loadgen.flags import INFLUX_ENV_VARS, INFLUX_FLAVOURS, INFLUX_SECRETS
from loadgen.redact import redact_url

Flavour = Literal["v1", "v2", "auto"]


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """One InfluxDB destination.

    >>> InfluxSettings(url="http://127.0.0.1:8086", flavour="v1", db="loadgen")
    >>> InfluxSettings(url="https://influx:8086", flavour="v2", token="...", org="o", bucket="b")
    """

    url: str
    flavour: Flavour = "auto"
    token: str = field(default="", repr=False)
    org: str = ""
    bucket: str = ""
    db: str = ""
    rp: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 10.0
    batch_points: int = 2000  # flush when this many points wait...
    flush_interval_s: float = 1.0  # ...or when the oldest has waited this long
    buffer_points: int = 200_000  # beyond this, new points spill to the spool file
    retry_window_s: float = 60.0  # a batch failing (retryably) this long is spilled
    backoff_max_s: float = 8.0

    def __post_init__(self) -> None:
        # Credentials in the URL (user:password@, or 1.x's ?u=&p= and ?token=) move into the
        # fields and the query goes, so the URL is safe to show and store.
        parts = urllib.parse.urlsplit(self.url)
        if parts.username is None and parts.password is None and not parts.query:
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        user = urllib.parse.unquote(parts.username or "") or query.get("u", "")
        password = urllib.parse.unquote(parts.password or "") or query.get("p", "")
        object.__setattr__(self, "user", self.user or user)
        object.__setattr__(self, "password", self.password or password)
        object.__setattr__(self, "token", self.token or query.get("token", ""))
        object.__setattr__(self, "url", self.display_url.rstrip("/"))

    @property
    def display_url(self) -> str:
        """The URL without any user:password@ part, safe for logs."""
        parts = urllib.parse.urlsplit(self.url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @property
    def target(self) -> str:
        """What the points go into, for messages: `db loadgen` or `bucket b (org o)`."""
        if self.flavour == "v1":
            return f"database {self.db!r}" + (f" (rp {self.rp!r})" if self.rp else "")
        return f"bucket {self.bucket!r} (org {self.org!r})"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict for metadata and summaries; secrets show only whether set."""
        data = dataclasses.asdict(self)
        data["url"] = self.display_url
        for name in INFLUX_SECRETS:
            data[name] = "***" if data[name] else ""
        return data

    def with_flavour(self, flavour: Flavour) -> InfluxSettings:
        """A copy with an explicit flavour (after /ping detection)."""
        return dataclasses.replace(self, flavour=flavour)


def settings_from(
    values: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> InfluxSettings | None:
    """Settings from option values (None = unset), falling back on INFLUX_* variables.

    Returns None when no URL is given at all (InfluxDB is off). Raises LoadgenError on
    incomplete or contradictory settings.
    """
    env = env or {}
    merged = {
        name: values.get(name) if values.get(name) not in (None, "") else env.get(var, "")
        for name, var in INFLUX_ENV_VARS.items()
    }
    url = str(merged["url"] or "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        shown = redact_url(url)
        raise LoadgenError(f"--influx-url must start with http:// or https://, got {shown!r}")
    flavour = str(merged["flavour"] or "auto").lower()
    if flavour not in INFLUX_FLAVOURS:
        raise LoadgenError(f"--influx-flavour must be one of v1, v2, auto; got {flavour!r}")
    extra = {k: v for k, v in values.items() if k not in INFLUX_ENV_VARS and v is not None}
    kwargs = {k: str(v) for k, v in merged.items() if k not in ("url", "flavour")}
    settings = InfluxSettings(url=url.rstrip("/"), flavour=flavour, **kwargs, **extra)  # type: ignore[arg-type]
    check_complete(settings)
    return settings


def check_complete(settings: InfluxSettings) -> None:
    """Raise LoadgenError if the flavour's required names are missing."""
    if settings.flavour == "v1" and not settings.db:
        raise LoadgenError("InfluxDB v1 needs a database: --influx-db or INFLUX_DB")
    if settings.flavour == "v2":
        missing = [n for n in ("token", "org", "bucket") if not getattr(settings, n)]
        if missing:
            flags = ", ".join(f"--influx-{n} ({INFLUX_ENV_VARS[n]})" for n in missing)
            raise LoadgenError(f"InfluxDB v2 needs {flags}")
    if settings.flavour == "auto" and not (settings.db or settings.bucket):
        raise LoadgenError("InfluxDB needs --influx-db (v1) or --influx-bucket (v2)")
