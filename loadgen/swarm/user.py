"""ChatUser: one simulated chat client. Locustfiles subclass it declaratively.

A task is one conversation: its turns are sent in order with the history carried (the server's
real replies) and `think_time_s` between them. Closed loop: a user's first conversation starts
after a random phase, the next one as soon as one ends. Open loop (--rate): each conversation
waits for its scheduled Poisson arrival.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any, ClassVar

import gevent
from locust import User, constant

from loadgen import retry_after
from loadgen.records import RequestRecord
from loadgen.swarm import plugin
from loadgen.swarm.session import Session, Transport
from loadgen.swarm.workload_source import workload_for
from loadgen.workload import Workload

_NS_PER_S = 1_000_000_000
CONNECT_BACKOFF_S = 0.5


class ChatUser(User):  # type: ignore[misc]  # locust is untyped to mypy
    """Single- or multi-turn chat; class attributes left as None take the command-line options."""

    abstract = True
    wait_time = constant(0)
    turns: ClassVar[int | None] = None
    think_time_s: ClassVar[float | None] = None
    system_prompt: ClassVar[str | None] = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # The client is built here, in Locust's spawn loop, which builds every user of a spawn
        # batch before any of them runs: no user's first request waits while the others of its
        # batch build theirs (the openai SDK's client took 23 ms each), stamped and unanswered.
        self._session: Session | None = plugin.session_for(environment)
        self._transport: Transport | None = self._session.transport()
        self._workload: Workload | None = None
        self._rng = random.Random(0)
        self._think_s = 0.0
        self._retry_wait_s: float | None = None  # waited on a Retry-After since the last request
        self._refusals_in_row = 0  # 429/503 answers since the last success

    def on_start(self) -> None:
        session = plugin.session_for(self.environment)
        s = session.settings
        number = session.next_user_number()
        self._rng = random.Random(zlib.crc32(f"{s.seed}:{session.worker}:{number}".encode()))
        system = self.system_prompt if self.system_prompt is not None else s.system_prompt
        self._workload = workload_for(s, self.turns or s.turns, system or None)
        self._think_s = self.think_time_s if self.think_time_s is not None else s.think_time_s
        self._wait_phase(session, number)

    def _wait_phase(self, session: Session, number: int) -> None:
        """Closed loop: wait a random phase before the first request, drawn uniformly in the
        level's phase window (loadgen/run/plan.py LevelRamp) from --seed, the worker's index and
        the user's number, so users spawned together do not stay in step. Open loop: the
        arrivals decide."""
        phase_s = session.stage.phase_s
        if phase_s <= 0 or session.settings.rate_per_s > 0:
            return
        worker = getattr(self.environment.runner, "worker_index", 0)
        seed = zlib.crc32(f"phase:{session.settings.seed}:{worker}:{number}".encode())
        gevent.sleep(random.Random(seed).uniform(0.0, phase_s))

    def on_stop(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _wait_for_arrival(self, session: Session) -> int | None:
        t_sched_ns = session.arrival()
        if t_sched_ns is not None:
            delay_s = (t_sched_ns - time.perf_counter_ns()) / _NS_PER_S
            if delay_s > 0:
                gevent.sleep(delay_s)
        return t_sched_ns

    def _back_off(self, record: RequestRecord) -> None:
        """After a failure, before the next request: wait out a 429's or 503's Retry-After, or
        without one back off as the official OpenAI client does (noted on the next record as
        retry_wait_s), or a moment for a down server, so a user never piles requests on an
        engine that asked for a pause. The sleep dies with the user when the run stops."""
        if record.error_type == "connect":
            gevent.sleep(CONNECT_BACKOFF_S)
            return
        if record.http_status in retry_after.WAIT_STATUSES:
            self._refusals_in_row += 1
        jitter = 1.0 - 0.25 * random.random()
        wait_s = retry_after.wait_s(
            record.http_status, record.retry_after_s, self._refusals_in_row, jitter
        )
        if wait_s > 0:
            gevent.sleep(wait_s)
            self._retry_wait_s = wait_s

    def conversation(self) -> None:
        session, transport, workload = self._session, self._transport, self._workload
        if session is None or transport is None or workload is None:
            return
        t_sched_ns = self._wait_for_arrival(session)
        chat = workload.next_conversation(self._rng)
        replies: list[str] = []
        for turn_index, turn in enumerate(chat.turns):
            messages = list(chat.messages_for_turn(turn_index, replies))
            waited_s, self._retry_wait_s = self._retry_wait_s, None
            record, reply = session.request(
                transport, messages, turn_index, t_sched_ns, turn.max_tokens, waited_s
            )
            if not record.ok:
                self._back_off(record)
                return
            self._refusals_in_row = 0
            replies.append(reply)
            t_sched_ns = None
            if self._think_s > 0 and turn_index + 1 < len(chat.turns):
                gevent.sleep(self._think_s)

    tasks: ClassVar[list[Any]] = [conversation]
