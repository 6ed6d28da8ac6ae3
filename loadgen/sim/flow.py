"""One generation request end to end: parse, draw a fault, queue, stream tokens, record truth.

The scheduler loop produces tokens; this handler only writes what the engine has produced, so
it never sleeps per token. Mid-stream faults strike once half of the tokens have been written.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time

from aiohttp import web

from loadgen.backends.base import PREFLIGHT_HEADER
from loadgen.records import Api
from loadgen.sim.bodies import BadRequest, Kind, SimRequest, output_plan, parse_ollama, parse_openai
from loadgen.sim.engine import Sequence
from loadgen.sim.faults import BEFORE_STREAM, RETRY_AFTER_FAULTS, Fault
from loadgen.sim.metrics import observe_finished
from loadgen.sim.ollama_wire import OllamaFormat, ollama_error
from loadgen.sim.openai_wire import OpenAIFormat, openai_error
from loadgen.sim.outcome import Outcome
from loadgen.sim.state import SimState
from loadgen.sim.truth import TruthRow
from loadgen.tokens import words

BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
_ERR_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}
_FAULT_STATUS = {
    "http500": (500, "internal server error (injected fault)"),
    "busy503": (503, BUSY_MESSAGE),
    "rate429": (429, "rate limit exceeded, retry later (injected fault)"),
}

Format = OpenAIFormat | OllamaFormat


class Job:
    """A request admitted past validation: its format, sequence, text and truth row."""

    def __init__(
        self,
        state: SimState,
        req: SimRequest,
        row: TruthRow,
        fault: Fault | None,
        n_out: int,
        finish: str,
        seed: int,
    ) -> None:
        self.state, self.req, self.row, self.fault = state, req, row, fault
        fmt_cls = OpenAIFormat if req.api == "openai" else OllamaFormat
        self.fmt: Format = fmt_cls(req, row.request_id)
        self.finish = finish
        self.wake = asyncio.Event()
        self.seq = Sequence(req.tokens_in, n_out, on_progress=self.wake.set)
        self.texts = [w if i == 0 else " " + w for i, w in enumerate(words(n_out, seed))]
        self.submit_ns = 0
        self.sent = 0

    def outcome(self) -> Outcome:
        seq, arrival = self.seq, self.row.arrival_mono_ns
        first = seq.first_token_ns or arrival
        last = seq.last_token_ns or first
        return Outcome(
            tokens_in=self.req.tokens_in,
            tokens_out=seq.tokens_out,
            finish_reason=self.finish,
            total_ns=last - arrival,
            load_ns=self.submit_ns - arrival,
            prefill_ns=seq.prefill_ns,
            eval_ns=last - first,
        )

    def mark_written(self, n_tokens: int) -> None:
        now = time.perf_counter_ns()
        if self.sent == 0 and n_tokens > 0:
            self.row.first_token_mono_ns = now
            self.state.book.ttft.observe((now - self.row.arrival_mono_ns) / 1e9)
        elif n_tokens > 0 and self.row.last_token_mono_ns is not None:
            self.state.book.itl.observe((now - self.row.last_token_mono_ns) / 1e9)
        self.row.last_token_mono_ns = now
        self.sent += n_tokens
        self.row.tokens_out = self.sent


async def handle(state: SimState, request: web.Request, api: Api, kind: Kind) -> web.StreamResponse:
    """The route handler of every generation endpoint."""
    preflight = PREFLIGHT_HEADER in request.headers
    n = 0 if preflight else state.next_id()  # ids and text seeds: as if it never came
    row = TruthRow(
        request_id=request.headers.get("x-request-id") or f"sim-{n}",
        route=request.path,
        api=api,
        arrival_mono_ns=time.perf_counter_ns(),
        wall_arrival_unix_ns=time.time_ns(),
    )
    try:
        resp = await _handle(state, request, api, kind, row, n, preflight)
        row.status = resp.status
        return resp
    finally:
        if not preflight:
            _book(state, row)


def _book(state: SimState, row: TruthRow) -> None:
    """Count the request and write its truth row."""
    row.end_mono_ns = time.perf_counter_ns()
    ok = row.status < 400 and row.fault is None and row.error is None
    state.book.requests_ok += ok
    state.book.requests_failed += not ok
    state.truth.write(row)


async def _parse(
    state: SimState, request: web.Request, api: Api, kind: Kind, n: int
) -> tuple[SimRequest, int, str, int]:
    """(request, output tokens, finish reason, text seed); BadRequest for any bad body."""
    try:
        body = json.loads(await request.read())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise BadRequest(f"invalid JSON body: {exc}") from None
    req = parse_openai(body, kind) if api == "openai" else parse_ollama(body, kind)
    seed = req.seed if req.seed is not None else state.seed * 1_000_003 + n
    n_out, finish = output_plan(req, state.profile, seed)
    return req, n_out, finish, seed


async def _handle(
    state: SimState,
    request: web.Request,
    api: Api,
    kind: Kind,
    row: TruthRow,
    n: int,
    preflight: bool = False,
) -> web.StreamResponse:
    try:
        req, n_out, finish, seed = await _parse(state, request, api, kind, n)
    except BadRequest as exc:
        row.error = f"bad request: {exc}"[:200]
        return error_response(state, api, 400, str(exc))
    if not state.serves(req.model):
        row.error = f"unknown model {req.model}"[:200]
        return error_response(state, api, 404, _unknown_model(state, api, req.model))
    row.tokens_in = req.tokens_in
    fault = None if preflight else state.faults.draw()
    row.fault = fault.name if fault else None
    if fault is not None and fault.name in BEFORE_STREAM:
        return _fault_response(state, api, fault)
    job = Job(state, req, row, fault, n_out, finish, seed)
    await asyncio.sleep(state.profile.request_overhead_ms * state.time_scale / 1e3)
    await state.residency.acquire()  # a model unloaded after keep_alive is loaded first
    job.submit_ns = time.perf_counter_ns()  # so load_duration includes the load
    if not state.engine.submit(job.seq):
        state.residency.release(req.keep_alive_s)
        row.error = "queue full"
        return error_response(state, api, 503, BUSY_MESSAGE)
    state.scheduler.notify()
    try:
        return await (_stream(request, job) if req.stream else _whole(request, job))
    except ConnectionError:
        row.error = "client disconnected"
        return web.Response(status=200)  # never sent: the connection is gone
    finally:
        state.engine.cancel(job.seq)
        state.residency.release(req.keep_alive_s)
        if job.seq.admitted_ns is not None:
            row.admitted_mono_ns = job.seq.admitted_ns
            row.queue_wait_ns = job.seq.admitted_ns - job.submit_ns
            state.book.queue.observe(row.queue_wait_ns / 1e9)
        observe_finished(state.book, row, job.seq, time.perf_counter_ns())


def error_response(
    state: SimState, api: Api, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in the wire format of the route's API."""
    if api == "ollama":
        body = ollama_error(message)
    else:
        body = openai_error(state.profile.engine, status, message, _ERR_TYPES.get(status, "Error"))
    return web.json_response(body, status=status, headers=headers)


def _unknown_model(state: SimState, api: Api, model: str) -> str:
    """The engine's own words for a model it does not serve."""
    if api == "ollama":
        return f"model '{model}' not found"
    if state.profile.engine == "ollama":  # Ollama's OpenAI-compatible routes
        return f'model "{model}" not found, try pulling it first'
    return f"The model `{model}` does not exist."


def _fault_response(state: SimState, api: Api, fault: Fault) -> web.Response:
    status, message = _FAULT_STATUS[fault.name]
    headers = retry_after_headers(fault.param_s) if fault.name in RETRY_AFTER_FAULTS else None
    return error_response(state, api, status, message, headers)


def retry_after_headers(wait_s: float) -> dict[str, str]:
    """Retry-After in whole seconds (HTTP allows no fraction), and OpenAI's `retry-after-ms`,
    which its clients read first, for the exact wait."""
    return {"Retry-After": f"{max(1, round(wait_s))}", "retry-after-ms": f"{round(wait_s * 1e3)}"}


async def _next_tokens(job: Job, limit: int) -> int:
    """Wait until the engine has produced a frame's worth of tokens beyond what was sent (one
    token, or the profile's tokens_per_frame), up to `limit`."""
    need = min(job.sent + job.state.profile.tokens_per_frame, limit)
    while job.seq.tokens_out < need and job.seq.state != "finished":
        await job.wake.wait()
        job.wake.clear()
    return min(job.seq.tokens_out, limit)


def _frames(job: Job, upto: int, finish: str | None) -> bytes:
    """The frames of tokens job.sent..upto: one a token, or tokens_per_frame joined in one."""
    texts, per = job.texts[job.sent : upto], job.state.profile.tokens_per_frame
    if per == 1:
        return job.fmt.tokens(texts, job.sent, finish)
    groups = [texts[i : i + per] for i in range(0, len(texts), per)]
    done, out = job.sent, []
    for n, group in enumerate(groups, start=1):
        done += len(group)  # the format numbers a frame's usage after its one text
        out.append(job.fmt.tokens(["".join(group)], done - 1, finish if n == len(groups) else None))
    return b"".join(out)


async def _stream(request: web.Request, job: Job) -> web.StreamResponse:
    ctype = "text/event-stream" if job.req.api == "openai" else "application/x-ndjson"
    resp = web.StreamResponse(status=200, headers={"Content-Type": ctype})
    profile = job.state.profile
    # vLLM's StreamingResponse sends its headers before the engine sees the request; Ollama
    # (Go's net/http) sends them with its first write, the first token.
    if profile.engine != "ollama":
        await resp.prepare(request)
    head = job.fmt.head()  # vLLM yields the role chunk in its first output, with token 1
    if head and profile.early_role_chunk:
        await resp.prepare(request)
        await resp.write(head)
        head = b""
    target = job.seq.tokens_target
    fault_at = max(1, target // 2) if job.fault is not None else target + 1
    while job.sent < target:
        upto = await _next_tokens(job, fault_at if job.sent < fault_at else target)
        last = upto == target
        frames = _frames(job, upto, job.finish if last else None)
        if head or not resp.prepared:  # the first write: Ollama's headers, vLLM's role chunk
            await resp.prepare(request)
            frames, head = head + frames, b""
        await resp.write(frames)
        job.mark_written(upto - job.sent)
        if job.sent == fault_at and job.fault is not None:
            stop = await _mid_stream_fault(request, resp, job, job.fault)
            if stop:
                return resp
    await resp.prepare(request)  # no token at all: nothing was sent yet
    await resp.write(job.fmt.tail(job.outcome()))
    await resp.write_eof()
    return resp


async def _mid_stream_fault(
    request: web.Request, resp: web.StreamResponse, job: Job, fault: Fault
) -> bool:
    """Apply a mid-stream fault; True when the stream must end here."""
    if fault.name == "stall":
        await asyncio.sleep(fault.param_s)
    elif fault.name == "malformed":
        await resp.write(job.fmt.malformed())
    elif fault.name == "cut":
        await resp.write_eof()  # a clean end of the body, but no [DONE] / done:true
        return True
    elif fault.name == "reset":
        reset_connection(request)
        return True
    return False


def reset_connection(request: web.Request) -> None:
    """Close the socket with SO_LINGER 0, so the peer sees a TCP RST (connection reset)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _whole(request: web.Request, job: Job) -> web.StreamResponse:
    target = job.seq.tokens_target
    while job.seq.state != "finished":
        await job.wake.wait()
        job.wake.clear()
    fault = job.fault
    if fault is not None and fault.name == "reset":
        reset_connection(request)
        return web.Response(status=200)
    if fault is not None and fault.name == "stall":
        await asyncio.sleep(fault.param_s)
    text = "".join(job.texts)
    payload = json.dumps(job.fmt.body(text, job.outcome())).encode()
    if fault is not None and fault.name == "malformed":
        payload = payload[: len(payload) // 2] + b"\x00{"
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = len(payload)
    await resp.prepare(request)
    if fault is not None and fault.name == "cut":  # half the promised body, then FIN
        await resp.write(payload[: len(payload) // 2])
        if request.transport is not None:
            request.transport.close()
        return resp
    await resp.write(payload)
    await resp.write_eof()
    job.mark_written(target)
    return resp
