"""The read-only routes: model lists, versions, health, loaded models, metrics and /sim/gpu."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aiohttp import web

from loadgen.sim.gpu import vram_used_bytes
from loadgen.sim.metrics import render
from loadgen.sim.ollama_wire import created_at
from loadgen.sim.state import SimState


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
    model = state.profile.model
    card = {
        "id": model,
        "object": "model",
        "created": state.started_unix_s,
        "owned_by": "vllm" if state.profile.engine == "vllm" else "library",
        "root": model,
        "parent": None,
        "max_model_len": state.profile.max_model_len,
    }
    return {"object": "list", "data": [card]}


def api_tags(state: SimState) -> dict[str, Any]:
    """GET /api/tags as Ollama answers it."""
    model = state.profile.model
    entry = {
        "name": model,
        "model": model,
        "modified_at": created_at(),
        "size": state.profile.gpu.weights_bytes,
        "digest": _digest(model),
        "details": _details(state),
    }
    return {"models": [entry]}


def api_ps(state: SimState) -> dict[str, Any]:
    """GET /api/ps: the loaded model with `size` and `size_vram` (all of it on the GPU)."""
    model = state.profile.model
    size = vram_used_bytes(state.profile, state.engine)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
    entry = {
        "name": model,
        "model": model,
        "size": size,
        "digest": _digest(model),
        "details": _details(state),
        "expires_at": expires,
        "size_vram": size,
        "context_length": state.profile.max_model_len,
    }
    return {"models": [entry]}


def add_catalog_routes(app: web.Application, state: SimState) -> None:
    """Register every read-only route on `app`."""
    version = state.profile.version

    async def models(_: web.Request) -> web.Response:
        return web.json_response(v1_models(state))

    async def tags(_: web.Request) -> web.Response:
        return web.json_response(api_tags(state))

    async def ps(_: web.Request) -> web.Response:
        return web.json_response(api_ps(state))

    async def version_route(_: web.Request) -> web.Response:
        return web.json_response({"version": version})

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def root(_: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def metrics(_: web.Request) -> web.Response:
        text = render(state.engine, state.book, state.profile.model)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def sim_gpu(_: web.Request) -> web.Response:
        busy = state.scheduler.busy_ns
        return web.json_response(state.meter.snapshot(state.engine, busy, state.time_scale))

    async def sim_stats(_: web.Request) -> web.Response:
        return web.json_response(sim_stats_doc(state))

    app.router.add_get("/", root)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/api/ps", ps)
    app.router.add_get("/version", version_route)
    app.router.add_get("/api/version", version_route)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/sim/gpu", sim_gpu)
    app.router.add_get("/sim/stats", sim_stats)


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
