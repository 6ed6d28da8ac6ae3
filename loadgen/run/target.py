"""Probe the target before any load: which API it speaks, its models, its version.

Plain blocking urllib (no locust): the CLI calls it before starting Locust, and the plugin
calls it at init when plain `locust -f` runs without --api/--model. Failures are LoadgenError.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from loadgen.errors import LoadgenError
from loadgen.redact import redact_url
from loadgen.run.tls_trust import check_ca_env

PROBE_TIMEOUT_S = 5.0
_CA_HINT = " (signed by a private CA? point SSL_CERT_FILE or SSL_CERT_DIR at it)"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What the target told us about itself."""

    host: str
    api: str  # "openai" or "ollama"
    model: str
    engine: str  # "ollama", "vllm", "sim" or "unknown"
    version: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None  # the engine's process, when this run started it (--sim)


def _get_json(url: str, api_key: str | None) -> Any | None:
    """GET url as JSON; None on any HTTP error status. Network failures raise LoadgenError."""
    request = urllib.request.Request(url, headers={"accept": "application/json"})
    if api_key:
        request.add_header("authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        hint = _CA_HINT if isinstance(reason, ssl.SSLCertVerificationError) else ""
        raise LoadgenError(f"cannot reach {url}: {reason}{hint}") from None
    except ValueError:
        return None


def detect_api(host: str, api_key: str | None) -> tuple[str, dict[str, Any]]:
    """(api, version JSON): vLLM-style /version means openai; Ollama's /api/version, ollama."""
    version = _get_json(host + "/version", api_key)
    if isinstance(version, dict):
        return "openai", version
    ollama_version = _get_json(host + "/api/version", api_key)
    if isinstance(ollama_version, dict):
        return "ollama", ollama_version
    if isinstance(_get_json(host + "/v1/models", api_key), dict):
        return "openai", {}
    raise LoadgenError(f"{host} answers neither /api/version (Ollama) nor /v1/models (OpenAI)")


def listed_models(host: str, api: str, api_key: str | None) -> list[str]:
    """The server's models: /v1/models data[].id, or Ollama's /api/tags models[].name; [] if
    it lists none or does not answer the list."""
    if api == "ollama":
        tags = _get_json(host + "/api/tags", api_key)
        entries, key = (tags.get("models") if isinstance(tags, dict) else None), "name"
    else:
        listing = _get_json(host + "/v1/models", api_key)
        entries, key = (listing.get("data") if isinstance(listing, dict) else None), "id"
    if not isinstance(entries, list):
        return []
    names = (e.get(key) or e.get("model") for e in entries if isinstance(e, dict))
    return [str(name) for name in names if name]


def first_model(host: str, api: str, api_key: str | None) -> str:
    """The server's first model: /v1/models data[0].id, or Ollama's /api/tags models[0].name."""
    models = listed_models(host, api, api_key)
    if not models:
        raise LoadgenError(f"{host} lists no models; pass --model")
    return models[0]


def _engine(api: str, version: dict[str, Any]) -> str:
    if "sim" in json.dumps(version).lower() or "loadgen" in json.dumps(version).lower():
        return "sim"
    return "ollama" if api == "ollama" else ("vllm" if version else "unknown")


def probe(host: str, api: str, model: str, api_key: str | None) -> TargetInfo:
    """Resolve api ('auto' allowed) and model ('' allowed) against the live server."""
    host = host.rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise LoadgenError(f"--host must start with http:// or https://, got {redact_url(host)!r}")
    if host.startswith("https://"):
        check_ca_env()
    if api == "auto":
        api, version = detect_api(host, api_key)
    elif api in ("openai", "ollama"):
        path = "/api/version" if api == "ollama" else "/version"
        found = _get_json(host + path, api_key)
        version = found if isinstance(found, dict) else {}
    else:
        raise LoadgenError(f"--api must be openai, ollama or auto, got {api!r}")
    if not model:
        model = first_model(host, api, api_key)
    return TargetInfo(host, api, model, _engine(api, version), version)
