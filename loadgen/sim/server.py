"""The simulator's HTTP server (aiohttp): routes, start/stop, and the blocking `run()`.

    run(load_profile("fast"), "127.0.0.1", 8000)  # blocks until SIGINT/SIGTERM

`start()` is the same server inside an already running event loop (benches, tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows
    uvloop = None  # type: ignore[assignment]

from loadgen.errors import LoadgenError
from loadgen.gc_pauses import keep_full_collections_short
from loadgen.records import Api
from loadgen.sim.bodies import Kind
from loadgen.sim.catalog import add_catalog_routes
from loadgen.sim.faults import FaultSpec, parse_faults
from loadgen.sim.flow import error_response, handle
from loadgen.sim.profiles import Profile, load_profile
from loadgen.sim.state import SimState, new_state
from loadgen.sim.truth import TruthWriter

_GENERATION_ROUTES: tuple[tuple[str, Api, Kind], ...] = (
    ("/v1/chat/completions", "openai", "chat"),
    ("/v1/completions", "openai", "completion"),
    ("/api/chat", "ollama", "chat"),
    ("/api/generate", "ollama", "completion"),
)
_MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(state: SimState) -> web.Application:
    """The aiohttp application with every route of both APIs."""

    @web.middleware
    async def no_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # a simulator bug: one line, and a 500 in the API's format
            print(f"loadgen sim: {request.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            api: Api = "ollama" if request.path.startswith("/api/") else "openai"
            return error_response(state, api, 500, f"internal error: {type(exc).__name__}")

    app = web.Application(client_max_size=_MAX_BODY_BYTES, middlewares=[no_tracebacks])
    for path, api, kind in _GENERATION_ROUTES:
        app.router.add_post(path, _generation_handler(state, api, kind))
    add_catalog_routes(app, state)
    return app


def _generation_handler(state: SimState, api: Api, kind: Kind) -> Handler:
    async def route(request: web.Request) -> web.StreamResponse:
        return await handle(state, request, api, kind)

    return route


@dataclass
class RunningSim:
    """A started simulator inside the current event loop."""

    state: SimState
    runner: web.AppRunner
    host: str
    port: int
    _loop_task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, end open streams, stop the scheduler and flush the truth file."""
        await self.runner.cleanup()
        self._loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop_task
        self.state.truth.close()


async def start(
    profile: Profile,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    truth_path: Path | None = None,
    faults: FaultSpec | None = None,
    seed: int = 0,
    time_scale: float = 1.0,
    models: tuple[str, ...] = (),
) -> RunningSim:
    """Start the server in the running loop; port 0 picks a free one (see `.port`)."""
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise LoadgenError("--time-scale must be a finite number > 0")
    truth = TruthWriter(truth_path)
    state = new_state(profile, truth, faults or FaultSpec(), seed, time_scale, models)
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048, shutdown_timeout=1.0)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        state.truth.close()
        raise LoadgenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound_port = int(runner.addresses[0][1])
    task = asyncio.get_running_loop().create_task(state.scheduler.run())
    return RunningSim(state, runner, host, bound_port, task)


def run(
    profile: Profile | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    truth_path: Path | None = None,
    faults: str | FaultSpec | None = None,
    seed: int = 0,
    time_scale: float = 1.0,
    models: tuple[str, ...] = (),
    announce: Callable[[RunningSim], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (blocking); `announce` is called once it accepts."""
    if isinstance(profile, str):
        profile = load_profile(profile)
    if not isinstance(faults, FaultSpec):
        faults = parse_faults(faults)
    options: dict[str, Any] = {"truth_path": truth_path, "faults": faults, "seed": seed}
    options |= {"time_scale": time_scale, "models": models}
    # uvloop where it exists (not on Windows): at 1,000 streams the simulator's own loop,
    # not the client's, held requests before its handler (p99 117-133 ms from the client's
    # send to the handler on 2 shared cores, 36 ms with uvloop; bench/worker_scale.py).
    run_loop = uvloop.run if uvloop is not None else asyncio.run
    run_loop(_serve(profile, host, port, options, announce))


async def _serve(
    profile: Profile,
    host: str,
    port: int,
    options: dict[str, Any],
    announce: Callable[[RunningSim], None] | None,
) -> None:
    sim = await start(profile, host, port, **options)
    # Its arrival and write stamps are the truth a client is judged by: no full collection may
    # stop its loop for long (one took 100+ ms at 1,000 streams).
    keep_full_collections_short()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    try:
        if announce is not None:
            announce(sim)
        await stopping.wait()
    finally:
        await sim.stop()
