"""Exact percentiles from raw values, and the samples of one level's requests.

Raw values are kept (float64 arrays, 8 bytes per value). Workers ship records, not percentiles,
so a level's percentile over every worker is exact, never an average of percentiles.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from loadgen import timing
from loadgen.records import RequestRecord

# Per-request latencies kept as raw values (ms); ITL holds one value per gap, not per request.
SAMPLE_METRICS: tuple[str, ...] = (
    "ttft_ms",
    "ttft_sched_ms",
    "ttfo_ms",
    "itl_ms",
    "tpot_ms",
    "e2e_ms",
    "queue_ms",
    "prefill_ms",
    "decode_ms",
    "network_client_ms",
    "load_ms",  # Ollama: these three too
    "server_ttft_ms",
    "server_e2e_ms",
)

# N_out sources that are the server's own count (not the client's frame count)
_SERVER_COUNTS = ("usage", "eval_count")


def percentile(values: Sequence[float] | array[float], pct: float) -> float | None:
    """The exact `pct` percentile (0..100, linear interpolation between ranks); None if empty."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), pct))


def nearest_rank(ordered: Sequence[float], pct: float) -> float | None:
    """The nearest-rank `pct` percentile (0..100) of a sorted sequence: a value it holds, as a
    server's own percentiles are; None if empty."""
    if len(ordered) == 0:
        return None
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def _empty_values() -> dict[str, array[float]]:
    return {name: array("d") for name in SAMPLE_METRICS}


@dataclass
class LevelSamples:
    """Counts and raw latencies of the requests that finished in one level's window.

    Latencies come from successful requests only; failures are counted by error type.
    Output/input tokens are summed over successful requests.
    """

    requests: int = 0
    errors_by_type: dict[str, int] = field(default_factory=dict)
    error_samples: dict[str, str] = field(default_factory=dict)  # type -> its first detail
    output_tokens: int = 0
    input_tokens: int = 0
    n_out_sources: dict[str, int] = field(default_factory=dict)
    token_checked_requests: int = 0  # successful, with a server count and a frame count
    token_mismatch_requests: int = 0  # ... whose two counts differ
    itl_gaps: int = 0  # inter-token gaps of successful requests
    itl_shared_gaps: int = 0  # ... that read 0 ms: two frames read (and stamped) together
    values: dict[str, array[float]] = field(default_factory=_empty_values)

    @property
    def errors(self) -> int:
        return sum(self.errors_by_type.values())

    def add(self, record: RequestRecord) -> None:
        """Count one finished request and keep its latencies if it succeeded."""
        self.requests += 1
        if not record.ok:
            key = record.error_type or "unknown"
            self.errors_by_type[key] = self.errors_by_type.get(key, 0) + 1
            if record.error_detail and key not in self.error_samples:
                self.error_samples[key] = record.error_detail
            return
        self.output_tokens += record.n_out
        self.input_tokens += record.n_in or 0
        self.n_out_sources[record.n_out_source] = self.n_out_sources.get(record.n_out_source, 0) + 1
        if record.token_frames is not None and record.n_out_source in _SERVER_COUNTS:
            self.token_checked_requests += 1
            self.token_mismatch_requests += record.token_frames != record.n_out
        gaps = timing.itl_ms(record)
        self.values["itl_ms"].extend(gaps)
        self.itl_gaps += len(gaps)
        self.itl_shared_gaps += gaps.count(0.0)
        self.values["e2e_ms"].append(timing.e2e_ms(record))
        single = {
            "ttft_ms": timing.ttft_ms(record),
            "ttft_sched_ms": timing.ttft_sched_ms(record),
            "ttfo_ms": timing.ttfo_ms(record),
            "tpot_ms": timing.tpot_ms(record),
        }
        breakdown = timing.ollama_breakdown_ms(record)
        if breakdown is not None:
            single.update(
                queue_ms=breakdown.queue_ms,
                prefill_ms=breakdown.prefill_ms,
                decode_ms=breakdown.decode_ms,
                network_client_ms=breakdown.network_client_ms,
                load_ms=breakdown.load_ms,
                server_ttft_ms=breakdown.server_ttft_ms,
                server_e2e_ms=breakdown.server_e2e_ms,
            )
        for name, value in single.items():
            if value is not None:
                self.values[name].append(value)

    def percentile(self, metric: str, pct: float) -> float | None:
        """Exact percentile of one SAMPLE_METRICS name."""
        return percentile(self.values[metric], pct)

    def mean(self, metric: str) -> float | None:
        """The mean of one SAMPLE_METRICS name; None if empty."""
        values = self.values[metric]
        return sum(values) / len(values) if len(values) else None
