"""Credentials out of URLs before they are stored or printed: a `user:password@` part and the
values of query parameters that carry secrets (`token=`, `password=`, `api_key=`, InfluxDB 1.x's
`u=` and `p=`). Pure string work: every writer and printer of a URL passes it through here.
"""

from __future__ import annotations

import re
import urllib.parse

REDACTED = "***"
# Query parameters whose value is a secret (compared lower-case, `-` read as `_`).
SECRET_QUERY_KEYS = frozenset(
    {
        "token",
        "access_token",
        "auth",
        "password",
        "passwd",
        "pwd",
        "secret",
        "api_key",
        "apikey",
        "key",
        "u",  # InfluxDB 1.x: user
        "p",  # InfluxDB 1.x: password
    }
)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
_URL = re.compile(_SCHEME + r"[^\s'\"<>]+")
# up to the authority's last '@'; the scheme is optional for values typed without one
_USERINFO = re.compile(r"^(" + _SCHEME + r"|)[^/?#\s]*@")
_QUERY_ITEM = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")


def redact_url(url: str) -> str:
    """`url` with its user:password@ and its secret query values replaced by `***`.

    >>> redact_url("http://user:pw@influx:8086/write?db=x&p=pw")
    'http://***@influx:8086/write?db=x&p=***'
    >>> redact_url("user:pw@influx:8086")
    '***@influx:8086'
    """
    url = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", url, count=1)
    base, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    query = _QUERY_ITEM.sub(_hide_secret, "?" + query)[1:]
    return f"{base}?{query}{hash_mark}{fragment}"


def redact_text(text: str) -> str:
    """Every URL inside `text` (an argument, a log line, an error message) redacted."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def is_secret_key(name: str) -> bool:
    """Whether a query parameter of this name carries a secret."""
    key = urllib.parse.unquote_plus(name).strip().lower().replace("-", "_")
    return key in SECRET_QUERY_KEYS


def _hide_secret(match: re.Match[str]) -> str:
    sep, name, value = match.groups()
    return f"{sep}{name}={REDACTED}" if value and is_secret_key(name) else match.group(0)
