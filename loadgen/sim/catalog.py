"""The read-only routes: model lists, versions, health, loaded models, metrics and /sim/gpu."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from loadgen.sim.gpu import vram_used_bytes
from loadgen.sim.metrics import render
from loadgen.sim.ollama_wire import created_at
from loadgen.sim.state import SimState

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _digest(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()


def _details(state: SimState) -> dict[str, Any]:
    quant = "Q4_K_M" if state.profile.engine == "ollama" else "F16"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "8.0B",
        "quantization_level": quant,
    }


def v1_models(state: SimState) -> dict[str, Any]:
    """GET /v1/models as vLLM answers it."""
    cards = [
        {
            "id": model,
            "object": "model",
            "created": state.started_unix_s,
            "owned_by": "vllm" if state.profile.engine == "vllm" else "library",
            "root": model,
            "parent": None,
            "max_model_len": state.profile.max_model_len,
        }
        for model in state.listed_models
    ]
    return {"object": "list", "data": cards}


def api_tags(state: SimState) -> dict[str, Any]:
    """GET /api/tags as Ollama answers it."""
    entries = [
        {
            "name": model,
            "model": model,
            "modified_at": created_at(),
            "size": state.profile.gpu.weights_bytes,
            "digest": _digest(model),
            "details": _details(state),
        }
        for model in state.listed_models
    ]
    return {"models": entries}


def api_ps(state: SimState) -> dict[str, Any]:
    """GET /api/ps: the loaded model with `size` and `size_vram` (the profile's vram_fraction
    of it on the GPU, the rest offloaded to the CPU); no model once keep_alive unloaded it."""
    if not state.residency.is_loaded():
        return {"models": []}
    model = state.listed_models[0]
    size = vram_used_bytes(state.profile, state.engine)
    expires_in_s = state.residency.expires_in_s()
    kept_s = 300.0 if expires_in_s is None else expires_in_s  # Ollama shows 5 min while busy
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + kept_s))
    entry = {
        "name": model,
        "model": model,
        "size": size,
        "digest": _digest(model),
        "details": _details(state),
        "expires_at": expires,
        "size_vram": round(size * state.profile.gpu.vram_fraction),
        "context_length": state.profile.max_model_len,
    }
    return {"models": [entry]}


def api_show(state: SimState, model: str) -> dict[str, Any]:
    """POST /api/show as Ollama answers it: the Modelfile's parameters (num_ctx: the profile's
    max_model_len), details and model_info (the trained context length)."""
    details = _details(state)
    return {
        "modelfile": f"FROM {model}\nPARAMETER num_ctx {state.profile.max_model_len}\n",
        "parameters": f"num_ctx                        {state.profile.max_model_len}",
        "template": "{{ .Prompt }}",
        "details": details,
        "model_info": {
            "general.architecture": details["family"],
            "general.parameter_count": 8_030_261_248,
            f"{details['family']}.context_length": 131072,
        },
        "capabilities": ["completion"],
        "modified_at": created_at(),
    }


async def _show(state: SimState, request: web.Request) -> web.Response:
    """/api/show: `model` (or the older `name`) must be one the simulator serves."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    model = body.get("model") or body.get("name") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model:
        return web.json_response({"error": "model is required"}, status=400)
    if not state.serves(model):
        return web.json_response({"error": f"model '{model}' not found"}, status=404)
    return web.json_response(api_show(state, model))


def add_catalog_routes(app: web.Application, state: SimState) -> None:
    """Register every read-only route on `app`."""
    version = {"version": state.profile.version}
    documents: dict[str, Callable[[], dict[str, Any]]] = {
        "/v1/models": lambda: v1_models(state),
        "/api/tags": lambda: api_tags(state),
        "/api/ps": lambda: api_ps(state),
        "/version": lambda: version,
        "/api/version": lambda: version,
        "/sim/gpu": lambda: state.meter.snapshot(
            state.engine, state.scheduler.busy_ns, state.time_scale
        ),
        "/sim/stats": lambda: sim_stats_doc(state),
    }
    for path, document in documents.items():
        app.router.add_get(path, _json_route(document))

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def root(_: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def metrics(request: web.Request) -> web.Response:
        text = render(state.engine, state.book, state.listed_models[0])
        agent = request.headers.get("User-Agent", "")
        state.truth.scraped(time.perf_counter_ns(), time.time_ns(), agent)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def show(request: web.Request) -> web.Response:
        return await _show(state, request)

    app.router.add_post("/api/show", show)
    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)


def _json_route(document: Callable[[], dict[str, Any]]) -> Handler:
    async def route(_: web.Request) -> web.Response:
        return web.json_response(document())

    return route


def sim_stats_doc(state: SimState) -> dict[str, Any]:
    """GET /sim/stats: engine counters and the scheduler's step-timing error (for benches)."""
    engine = state.engine
    return {
        "profile": state.profile.name,
        "time_scale": state.time_scale,
        "running": len(engine.running),
        "waiting": len(engine.waiting),
        "kv_blocks_used": engine.blocks_used,
        "preemptions_total": engine.preemptions_total,
        "tokens_out_total": engine.tokens_out_total,
        "requests_ok": state.book.requests_ok,
        "requests_failed": state.book.requests_failed,
        "faults_injected": dict(state.faults.injected),
        "step_timing": state.scheduler.timing.as_dict(),
    }
