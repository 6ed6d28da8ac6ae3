"""The one definition of each per-request latency (TTFT, TTFO, ITL, TPOT, E2E) in ms.

Every function reads raw perf_counter_ns timestamps of a RequestRecord and returns None where
the metric is undefined (no token arrived, no t_sched in closed loop, fewer than two tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from loadgen.records import RequestRecord

NS_PER_MS = 1_000_000


def _ms(ns: int) -> float:
    return ns / NS_PER_MS


def ttft_ms(record: RequestRecord) -> float | None:
    """Time to first token: t_first − t_send (reasoning and tool calls count as tokens)."""
    if record.t_first_ns is None:
        return None
    return _ms(record.t_first_ns - record.t_send_ns)


def ttft_sched_ms(record: RequestRecord) -> float | None:
    """t_first − t_sched: TTFT including the time the request waited to be sent (open loop),
    which exposes coordinated omission."""
    if record.t_first_ns is None or record.t_sched_ns is None:
        return None
    return _ms(record.t_first_ns - record.t_sched_ns)


def ttfo_ms(record: RequestRecord) -> float | None:
    """Time to first output: first non-reasoning frame − t_send."""
    if record.t_first_output_ns is None:
        return None
    return _ms(record.t_first_output_ns - record.t_send_ns)


def itl_ms(record: RequestRecord) -> list[float]:
    """Every gap between consecutive token-bearing frames (frames read together give 0)."""
    ns_per_ms = NS_PER_MS  # _ms(b - a), without a call per gap
    return [(b - a) / ns_per_ms for a, b in pairwise(record.frame_times_ns)]


def tpot_ms(record: RequestRecord) -> float | None:
    """Time per output token after the first: (t_last − t_first) / (N_out − 1)."""
    if record.t_first_ns is None or record.t_last_ns is None or record.n_out < 2:
        return None
    return _ms(record.t_last_ns - record.t_first_ns) / (record.n_out - 1)


def e2e_ms(record: RequestRecord) -> float:
    """End to end: t_last − t_send; a failed request, or one without tokens, uses t_end."""
    end_ns = record.t_last_ns if record.ok and record.t_last_ns is not None else record.t_end_ns
    return _ms(end_ns - record.t_send_ns)


@dataclass(frozen=True, slots=True)
class OllamaBreakdown:
    """Where an Ollama request's time went, from its final frame's server durations."""

    queue_ms: float  # total − load − prompt_eval − eval: waiting for a slot, mostly
    load_ms: float
    prefill_ms: float  # prompt_eval_duration
    decode_ms: float  # eval_duration
    network_client_ms: float  # client-measured (t_end − t_send) − total_duration

    @property
    def server_ttft_ms(self) -> float:
        """Until the first token: queue + load + prefill (total − eval)."""
        return self.queue_ms + self.load_ms + self.prefill_ms

    @property
    def server_e2e_ms(self) -> float:
        """total_duration: queue + load + prefill + decode."""
        return self.server_ttft_ms + self.decode_ms


def ollama_breakdown_ms(record: RequestRecord) -> OllamaBreakdown | None:
    """Split an Ollama request's time into queue, load, prefill, decode and network+client.

    The client side uses t_end (when the final `done` frame arrived), because Ollama's
    total_duration also runs until that frame, after the last token-bearing one.
    """
    timings = record.ollama
    if timings is None:
        return None
    server_ns = timings.total_duration_ns
    queue_ns = (
        server_ns
        - timings.load_duration_ns
        - timings.prompt_eval_duration_ns
        - timings.eval_duration_ns
    )
    return OllamaBreakdown(
        queue_ms=_ms(queue_ns),
        load_ms=_ms(timings.load_duration_ns),
        prefill_ms=_ms(timings.prompt_eval_duration_ns),
        decode_ms=_ms(timings.eval_duration_ns),
        network_client_ms=_ms(record.t_end_ns - record.t_send_ns - server_ns),
    )
