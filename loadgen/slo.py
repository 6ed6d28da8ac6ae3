"""SLO gates: parse `--slo ttft_p95_ms<=500` expressions and check them against every level.

A metric is any numeric LevelSummary field. A breach at any level is a breach; a metric that a
level could not measure (None, e.g. no successful request) is reported as a breach too. An
exact server-side percentile (queue_p95_ms: Ollama's) that a level lacks is read from its
bucketed twin (queue_p95_bucketed_ms: vLLM's /metrics), and the verdict says so.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from loadgen.errors import LoadgenError
from loadgen.flags import finite
from loadgen.level_summary import LevelSummary

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*([^\s]+)\s*$")
# LevelSummary fields that describe the level rather than measure it, or are not numbers.
_NOT_METRICS = {
    "stage_index",
    "users",
    "window_s",
    "errors_by_type",
    "error_samples",
    "n_out_sources",
}

METRICS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(LevelSummary) if f.name not in _NOT_METRICS
)


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective, e.g. Slo("ttft_p95_ms", "<=", 500.0)."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_slo(expression: str) -> Slo:
    """`metric<op>number` with op in <=, <, >=, >, ==; bad input raises a one-line LoadgenError."""
    match = _EXPR.match(expression)
    if match is None:
        raise LoadgenError(
            f"bad --slo {expression!r}: expected METRIC<=NUMBER (operators <=, <, >=, >, ==)"
        )
    metric, op, raw = match.groups()
    if metric not in METRICS:
        raise LoadgenError(f"unknown --slo metric {metric!r}; valid: {', '.join(METRICS)}")
    try:
        threshold = finite(float(raw), f"bad --slo {expression!r}")
    except ValueError:
        raise LoadgenError(f"bad --slo {expression!r}: {raw!r} is not a number") from None
    return Slo(metric, op, threshold)


def parse_slos(expressions: Iterable[str]) -> list[Slo]:
    """Every expression, parsed (a comma also separates expressions: 'a<=1,b>=2')."""
    return [parse_slo(part) for expr in expressions for part in expr.split(",") if part.strip()]


def bucketed_twin(metric: str) -> str | None:
    """queue_p95_ms -> queue_p95_bucketed_ms, where LevelSummary has such a field."""
    twin = metric.removesuffix("_ms") + "_bucketed_ms"
    return twin if metric.endswith("_ms") and twin in METRICS else None


def check_level(slo: Slo, level: LevelSummary) -> str | None:
    """A human-readable breach line, or None if the level meets the objective."""
    where = f"level {level.stage_index} ({level.users} users)"
    name, value = slo.metric, getattr(level, slo.metric)
    twin = bucketed_twin(name)
    if value is None and twin is not None and getattr(level, twin) is not None:
        name, value = twin, getattr(level, twin)  # vLLM: interpolated from histogram buckets
    if value is None:
        return f"SLO {slo} breached at {where}: {slo.metric} was not measured"
    if _OPERATORS[slo.op](float(value), slo.threshold):
        return None
    return f"SLO {slo} breached at {where}: {name} = {float(value):g}"


def evaluate(slos: Iterable[Slo], levels: Iterable[LevelSummary]) -> list[str]:
    """Every breach of every objective at every level, in level order; [] means all met."""
    slo_list = list(slos)
    breaches: list[str] = []
    for level in levels:
        for slo in slo_list:
            line = check_level(slo, level)
            if line is not None:
                breaches.append(line)
    return breaches
