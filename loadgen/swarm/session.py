"""Per-process request machinery shared by every user: identity, sequence, stage, transports.

`Session.request()` sends one chat request through a transport, builds its RequestRecord and
fires loadgen's `llm_request` plus one Locust `request` (LLM chat: E2E ms, N_out); TTFT, ITL and
TPOT go to the process's LlmStats, beside Locust's stats (locust_outputs.py, webui.py).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import gevent

from loadgen import timing
from loadgen.backends import backend_for
from loadgen.backends.base import ChatRequest, StreamResult
from loadgen.levels import CUT_OFF_DETAIL
from loadgen.records import RequestRecord
from loadgen.swarm import events, locust_outputs
from loadgen.swarm.arrivals import PoissonArrivals
from loadgen.swarm.events import RunContext
from loadgen.swarm.exchange import Exchange, WireBackend, failed, request_id
from loadgen.swarm.llm_stats import LlmStats
from loadgen.swarm.options import SwarmSettings
from loadgen.swarm.transport_fast import FastTransport
from loadgen.swarm.transport_openai import OpenAISdkTransport

LLM_REQUEST_TYPE = "LLM"


class Transport(Protocol):
    def send(self, backend: WireBackend, request: ChatRequest, request_id: str) -> Exchange: ...

    def cut_off(self, now_ns: int) -> tuple[StreamResult, int | None]:
        """The request in flight when its user was killed (the run's end): what its answer
        had brought by `now_ns`, and its HTTP status."""

    def close(self) -> None: ...


class LLMRequestError(Exception):
    """What Locust's failure table shows for a failed request: its error class."""


@dataclass
class LevelState:
    """The load level requests are sent in (updated by the tracker or the master's message)."""

    index: int = 0
    users: int = 0
    rate_share: float = 1.0  # this process's share of --rate (1 / number of workers)
    rate_per_s: float | None = None  # this level's --rate (a capacity probe's), None: --rate
    phase_s: float = 0.0  # a user started now waits a random [0, phase_s) before its first request


def worker_id() -> str:
    """hostname:pid, unique per process of a run."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Session:
    """Everything the users of one process share."""

    def __init__(
        self,
        environment: Any,
        settings: SwarmSettings,
        context: RunContext,
        stage: LevelState | None = None,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.context = context
        self.worker = worker_id()
        self.backend: WireBackend = backend_for(context.api)
        self.stage = stage or LevelState()
        self._seq = itertools.count()
        self._users = itertools.count()
        self._arrivals: PoissonArrivals | None = None
        self._arrivals_level = 0
        self.llm_stats: LlmStats = locust_outputs.stats_for(environment)

    def next_user_number(self) -> int:
        return next(self._users)

    def transport(self) -> Transport:
        """A new transport for one user (one keep-alive connection)."""
        s = self.settings
        # The openai SDK cannot read Ollama's NDJSON: native /api/chat always uses `fast`.
        if s.client == "openai" and self.context.api == "openai":
            return OpenAISdkTransport(
                self.context.target, s.api_key, s.request_timeout_s, s.stall_timeout_s
            )
        return FastTransport(
            self.context.target,
            s.api_key,
            s.request_timeout_s,
            s.stall_timeout_s,
            itl_resolution_s=s.itl_resolution_s,
        )

    def arrival(self) -> int | None:
        """Open loop: the next scheduled send time (perf_counter_ns); None in closed loop."""
        if self.settings.rate_per_s <= 0:
            return None
        # the share can change once the master says how many workers there are
        rate = (self.stage.rate_per_s or self.settings.rate_per_s) * self.stage.rate_share
        now_ns = time.perf_counter_ns()
        if self._arrivals is None:
            seed = self.settings.seed + zlib.crc32(self.worker.encode())
            self._arrivals = PoissonArrivals(rate, seed)
            self._arrivals_level = self.stage.index
        if self._arrivals_level != self.stage.index:  # a new level's arrivals start now
            self._arrivals.restart(now_ns)
            self._arrivals_level = self.stage.index
        self._arrivals.rate_per_s = rate
        return self._arrivals.take(now_ns)

    def chat_request(
        self, messages: list[dict[str, str]], max_tokens: int | None = None
    ) -> ChatRequest:
        s = self.settings
        return ChatRequest(
            model=self.context.model,
            messages=tuple(messages),
            max_tokens=max_tokens or s.output_tokens,
            ignore_eos=s.ignore_eos,
            min_tokens=s.min_tokens or None,
            temperature=s.temperature,
        )

    def request(
        self,
        transport: Transport,
        messages: list[dict[str, str]],
        turn: int,
        t_sched_ns: int | None,
        max_tokens: int | None = None,
        retry_wait_s: float | None = None,
    ) -> tuple[RequestRecord, str]:
        """Send one request; returns its record and the assistant's reply text. `retry_wait_s`:
        how long the user waited on a Retry-After before sending it."""
        seq = next(self._seq)
        stage_index, stage_users = self.stage.index, self.stage.users
        request = self.chat_request(messages, max_tokens)
        wall_send_unix_ns, t_send_ns = time.time_ns(), time.perf_counter_ns()
        try:
            exchange = transport.send(self.backend, request, request_id(self.worker, seq))
        except gevent.GreenletExit:
            # The run ended mid-request (Locust kills its users): keep every seq on record,
            # but only for loadgen's listeners, not as a Locust failure. What the answer had
            # brought stays: a first token read is a TTFT the server counted too.
            now_ns = time.perf_counter_ns()
            partial, status = transport.cut_off(now_ns)
            cut = Exchange(
                failed(partial, "truncated", CUT_OFF_DETAIL),
                wall_send_unix_ns,
                t_send_ns,
                now_ns,
                status,
            )
            cut_record = self._record(
                cut, seq, turn, t_sched_ns, stage_index, stage_users, retry_wait_s
            )
            events.llm_request.fire(record=cut_record)
            raise
        record = self._record(
            exchange, seq, turn, t_sched_ns, stage_index, stage_users, retry_wait_s
        )
        self._fire(record)
        return record, exchange.result.text

    def _record(
        self,
        exchange: Exchange,
        seq: int,
        turn: int,
        t_sched_ns: int | None,
        stage_index: int,
        stage_users: int,
        retry_wait_s: float | None,
    ) -> RequestRecord:
        r = exchange.result
        return RequestRecord(
            run_id=self.context.run_id,
            api="ollama" if self.context.api == "ollama" else "openai",
            model=self.context.model,
            user_class=self.context.user_class,
            worker=self.worker,
            stage_index=stage_index,
            stage_users=stage_users,
            seq=seq,
            wall_send_unix_ns=exchange.wall_send_unix_ns,
            t_send_ns=exchange.t_send_ns,
            t_end_ns=exchange.t_end_ns,
            t_sched_ns=t_sched_ns,
            t_first_ns=r.t_first_ns,
            t_first_output_ns=r.t_first_output_ns,
            t_last_ns=r.t_last_ns,
            frame_times_ns=r.frame_times_ns,
            n_in=r.n_in,
            n_in_source=r.n_in_source,
            n_out=r.n_out,
            n_out_source=r.n_out_source,
            token_frames=r.token_frames,
            ok=r.ok,
            error_type=r.error_type,
            error_detail=r.error_detail,
            http_status=exchange.http_status,
            retry_after_s=exchange.retry_after_s,
            retry_wait_s=retry_wait_s,
            finish_reason=r.finish_reason,
            turn=turn,
            ollama=r.ollama,
        )

    def _fire(self, record: RequestRecord) -> None:
        """One request is one Locust request: the chat, its E2E time, N_out, its failure."""
        events.llm_request.fire(record=record)
        self.llm_stats.add(record)
        error = None
        if not record.ok:
            status = f" {record.http_status}" if record.error_type == "http_status" else ""
            error = LLMRequestError(f"{record.error_type}{status}")
        self.environment.events.request.fire(
            request_type=LLM_REQUEST_TYPE,
            name="chat",
            response_time=timing.e2e_ms(record),
            response_length=record.n_out,
            exception=error,
            context={},
            response=None,
            url=None,
        )
