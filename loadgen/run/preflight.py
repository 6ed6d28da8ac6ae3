"""Before any load: the chosen model is one the server serves, and it answers one tiny request;
then one request of the run's size measures about how long a request lasts (the first ramp).

Plain blocking urllib, like the target probe (run/target.py). A server that refuses the model
(vLLM's 404 "The model `x` does not exist.", Ollama's "model 'x' not found") stops the run
with one line: the server's own message and the models it lists.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

from loadgen.backends import backend_for
from loadgen.backends.base import PREFLIGHT_HEADER, ChatRequest, server_message
from loadgen.errors import LoadgenError
from loadgen.run.target import TargetInfo, listed_models

_PROMPT = [{"role": "user", "content": "Say OK."}]


def tiny_request(api: str, model: str) -> tuple[str, dict[str, Any]]:
    """(path, body) of a one-token, non-streaming chat request in the target's API."""
    if api == "ollama":
        body = {"model": model, "messages": _PROMPT, "stream": False, "options": {"num_predict": 1}}
        return "/api/chat", body
    return "/v1/chat/completions", {"model": model, "messages": _PROMPT, "max_tokens": 1}


def _send(url: str, body: dict[str, Any], api_key: str | None, timeout_s: float) -> str | None:
    """POST the request; None if it answered 2xx, else what went wrong (the server's words)."""
    headers = {"content-type": "application/json", PREFLIGHT_HEADER: "1"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
        return None
    except urllib.error.HTTPError as exc:
        return f"{exc.code}: {server_message(exc.read())}"
    except (urllib.error.URLError, OSError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def check_model(info: TargetInfo, api_key: str | None, timeout_s: float) -> None:
    """Send one tiny request for `info.model`; LoadgenError (one line, exit 2) if it fails."""
    path, body = tiny_request(info.api, info.model)
    failure = _send(info.host + path, body, api_key, timeout_s)
    if failure is None:
        return
    models = listed_models(info.host, info.api, api_key)
    listed = ", ".join(models) if models else "none listed"
    raise LoadgenError(
        f"--model {info.model!r}: {info.host}{path} answered {failure} (the server's models:"
        f" {listed})"
    )


def probe_request_s(
    info: TargetInfo, api_key: str | None, timeout_s: float, work: ChatRequest
) -> float | None:
    """Seconds one non-streaming request of the run's own size takes, alone on the engine: the
    first level's automatic ramp (about one request). None if it failed (the run still starts;
    the ramp then falls back to its default)."""
    backend = backend_for(info.api)
    request = replace(work, model=info.model, stream=False)
    start_s = time.perf_counter()
    failure = _send(info.host + backend.path(), backend.body(request), api_key, timeout_s)
    return None if failure is not None else time.perf_counter() - start_s


def check_port_free(host: str, port: int, flag: str) -> None:
    """LoadgenError (exit 2) if `port` cannot be bound on `host` (another server has it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web UI does
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            message = f"{flag} {port}: cannot listen on {host}:{port} ({reason})"
            raise LoadgenError(message) from None
