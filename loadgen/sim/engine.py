"""The pure engine model: admission, step cost, token emission, KV blocks and preemption.

No clock and no I/O: the scheduler loop (scheduler.py) asks for a step, waits its duration and
reports it done. `fifo` is Ollama-like (N slots, bounded queue); `continuous` is vLLM-like
(max_num_seqs, KV-block budget, recompute preemption). Both emit one token per running sequence
per step.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from loadgen.sim.profiles import KV_BLOCK_TOKENS, Profile


@dataclass(eq=False, slots=True)
class Sequence:
    """One request inside the engine. `tokens_out` only grows; the handler streams the delta."""

    tokens_in: int
    tokens_target: int
    on_progress: Callable[[], None] = lambda: None
    state: str = "new"  # new, waiting, running, finished, cancelled
    tokens_out: int = 0
    blocks: int = 0
    needs_prefill: bool = True
    admitted_ns: int | None = None
    first_token_ns: int | None = None  # when the step that produced token 1 ended
    last_token_ns: int | None = None
    prefill_ns: int = 0  # duration of the step that produced the first token
    preemptions: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """One planned iteration: who runs, how long it lasts (ms of engine time)."""

    running: tuple[Sequence, ...]
    admitted: tuple[Sequence, ...]
    prefill_tokens: int
    duration_ms: float


def _kv_tokens(seq: Sequence) -> int:
    """Tokens whose KV the next step holds: prompt + generated + the one being generated."""
    return min(seq.tokens_in + seq.tokens_out + 1, seq.tokens_in + seq.tokens_target)


def blocks_for(n_tokens: int) -> int:
    """KV blocks needed to hold n_tokens."""
    return -(-n_tokens // KV_BLOCK_TOKENS)


@dataclass
class Engine:
    """Shared state of both engine models."""

    profile: Profile
    waiting: collections.deque[Sequence] = field(default_factory=collections.deque)
    running: list[Sequence] = field(default_factory=list)
    blocks_used: int = 0
    preemptions_total: int = 0
    tokens_out_total: int = 0
    tokens_in_total: int = 0
    steps_total: int = 0

    def submit(self, seq: Sequence) -> bool:
        """Queue a sequence; False when the queue is full (the caller answers 503 busy)."""
        limit = self.profile.max_queue
        free_slots = max(0, self.profile.max_running - len(self.running))
        if limit and len(self.waiting) >= limit + free_slots:  # those will start next step
            return False
        seq.state = "waiting"
        self.waiting.append(seq)
        self.tokens_in_total += seq.tokens_in
        return True

    def cancel(self, seq: Sequence) -> None:
        """The client went away or the request ended early: free its slot and blocks."""
        if seq.state == "waiting":
            self.waiting.remove(seq)
        elif seq.state == "running":
            self._release(seq)
        if seq.state not in ("finished",):
            seq.state = "cancelled"

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    def kv_usage_ratio(self) -> float:
        total = self.profile.kv_blocks
        return self.blocks_used / total if total else 0.0

    def plan_step(self, now_ns: int) -> Step | None:
        """Admit what fits, then describe the next step (None when there is nothing to run)."""
        admitted = self._admit(now_ns)
        if not self.running:
            return None
        prefill = sum(s.tokens_in + s.tokens_out for s in admitted)
        p = self.profile
        duration = (
            p.step_base_ms
            + p.step_per_seq_ms * len(self.running)
            + p.prefill_per_token_ms * prefill
        )
        return Step(tuple(self.running), tuple(admitted), prefill, duration)

    def finish_step(self, step: Step, start_ns: int, end_ns: int) -> None:
        """The step's time has passed: every sequence still running gets one more token."""
        self.steps_total += 1
        for seq in step.running:
            if seq.state != "running":
                continue
            if seq.needs_prefill:
                seq.needs_prefill = False
                if seq.first_token_ns is None:
                    seq.prefill_ns = end_ns - start_ns
            seq.tokens_out += 1
            self.tokens_out_total += 1
            seq.last_token_ns = end_ns
            if seq.first_token_ns is None:
                seq.first_token_ns = end_ns
            if seq.tokens_out >= seq.tokens_target:
                self._release(seq)
                seq.state = "finished"
            else:
                self._grow(seq)
            seq.on_progress()

    def _admit(self, now_ns: int) -> list[Sequence]:
        admitted: list[Sequence] = []
        while self.waiting and len(self.running) < self.profile.max_running:
            seq = self.waiting[0]
            need = blocks_for(_kv_tokens(seq))
            if not self._can_allocate(need):
                break
            self.waiting.popleft()
            self.blocks_used += need
            seq.blocks = need
            seq.state = "running"
            seq.needs_prefill = True
            if seq.admitted_ns is None:
                seq.admitted_ns = now_ns
            self.running.append(seq)
            admitted.append(seq)
        return admitted

    def _can_allocate(self, n_blocks: int) -> bool:
        total = self.profile.kv_blocks
        return not total or self.blocks_used + n_blocks <= total

    def _grow(self, seq: Sequence) -> None:
        """After a token, a sequence may need one more block; preempt the newest if none."""
        need = blocks_for(_kv_tokens(seq)) - seq.blocks
        while need > 0 and not self._can_allocate(need):
            victim = self.running[-1]
            self._preempt(victim)
            if victim is seq:
                return
        if need > 0:
            self.blocks_used += need
            seq.blocks += need

    def _preempt(self, seq: Sequence) -> None:
        """vLLM's recompute preemption: drop the KV, requeue at the head, prefill again."""
        self._release(seq)
        seq.state = "waiting"
        seq.needs_prefill = True
        seq.preemptions += 1
        self.preemptions_total += 1
        self.waiting.appendleft(seq)

    def _release(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.blocks_used -= seq.blocks
        seq.blocks = 0


def make_engine(profile: Profile) -> Engine:
    """The engine model a profile asks for (fifo ignores the KV budget: slots own their cache)."""
    if profile.scheduler == "fifo" and profile.kv_blocks:
        profile = replace(profile, kv_blocks=0)
    return Engine(profile)
