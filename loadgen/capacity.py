"""The capacity search, pure: from the probes measured so far, the next load to probe or the answer.

Upward by doubling from the first load until a probe breaks an SLO (or the maximum holds), then
bisection of the bracket (the largest load that held, the smallest that broke) until it is within
the precision. A load is a number of users (closed loop) or arrivals per second (open loop).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from loadgen.errors import LoadgenError
from loadgen.level_summary import LevelSummary
from loadgen.slo import Slo

Mode = Literal["users", "rate"]
GROWTH = 2.0  # each upward probe doubles the load
RATE_FLOOR = 1 / 32  # open loop: a first rate that breaks is halved down to start/32 at most
STEADY = "steady"  # the breach of a probe that never settled
PROBE_EVENT = "capacity_probe"  # the llm_event kind of each judged probe (an annotation)
_HOLDS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True, slots=True)
class Breach:
    """One objective a probe broke: its value there (None: not measured) and by how much."""

    slo: str  # as typed: ttft_p95_ms<=500; "steady" for a probe that never settled
    metric: str
    threshold: float
    value: float | None
    reason: str = ""  # "steady": why it never settled (loadgen/steady.py)

    @property
    def excess(self) -> float | None:
        """How far past the threshold, relative to it (0.25: 25 % over a `<=` limit)."""
        if self.value is None or self.threshold == 0:
            return None
        return abs(self.value - self.threshold) / abs(self.threshold)

    def describe(self) -> str:
        if self.metric == STEADY:
            return f"{STEADY}: {self.reason or 'not settled'}"
        if self.value is None:
            return f"{self.slo}: {self.metric} was not measured"
        excess = self.excess
        by = "" if excess is None else f", {excess:.0%} past the limit"
        return f"{self.slo}: {self.metric} = {self.value:.4g}{by}"


def with_error_gate(slos: Iterable[Slo], max_error_rate: float) -> tuple[Slo, ...]:
    """The objectives a probe must hold: the SLOs and the error gate (off at 1)."""
    gate = (Slo("error_rate", "<=", max_error_rate),) if max_error_rate < 1 else ()
    return (*slos, *gate)


def verdict(slos: Iterable[Slo], level: LevelSummary | None) -> tuple[Breach, ...]:
    """Every objective the level broke; () means the probe held. A level without a summary (no
    window) breaks every objective, unmeasured; a level that never settled breaks `steady`:
    its figures are not those of a load the engine sustains."""
    breaches = []
    for slo in slos:
        value = None if level is None else getattr(level, slo.metric)
        if value is None or not _HOLDS[slo.op](float(value), slo.threshold):
            number = None if value is None else float(value)
            breaches.append(Breach(str(slo), slo.metric, slo.threshold, number))
    if level is not None and level.steady is False:
        breaches.append(Breach(STEADY, STEADY, 1.0, None, level.steady_reason))
    return tuple(breaches)


@dataclass(frozen=True, slots=True)
class Probe:
    """One measured load: the level that ran it and what it broke."""

    load: float
    stage_index: int
    breaches: tuple[Breach, ...] = ()

    @property
    def held(self) -> bool:
        return not self.breaches


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """Where the search starts, how far it may go, when it is done."""

    mode: Mode
    start: float
    maximum: float
    precision: float = 0.1  # done when (broke - held) <= precision x held
    max_probes: int = 12

    def __post_init__(self) -> None:
        if not (0 < self.start <= self.maximum):
            what = "--users" if self.mode == "users" else "--rate"
            cap = "--max-users" if self.mode == "users" else "--max-rate"
            raise LoadgenError(f"{what} ({self.start:g}) must be above 0 and at most {cap}")
        if not 0 < self.precision < 1:
            raise LoadgenError(f"--precision must be between 0 and 1, got {self.precision:g}")

    @property
    def whole(self) -> bool:
        return self.mode == "users"

    @property
    def floor(self) -> float:
        """The smallest load worth probing."""
        return 1.0 if self.whole else self.start * RATE_FLOOR


def bracket(probes: Sequence[Probe]) -> tuple[Probe | None, Probe | None]:
    """(the largest load that held below the smallest that broke, the smallest that broke)."""
    broke = min((p for p in probes if not p.held), key=lambda p: p.load, default=None)
    ceiling = math.inf if broke is None else broke.load
    held = max(
        (p for p in probes if p.held and p.load < ceiling), key=lambda p: p.load, default=None
    )
    return held, broke


def narrow(spec: SearchSpec, low: float, high: float) -> bool:
    """True when the bracket [low, high) cannot or need not be split further."""
    if spec.whole and high - low <= 1:
        return True
    return low > 0 and high - low <= spec.precision * low


def next_load(spec: SearchSpec, probes: Sequence[Probe]) -> float | None:
    """The next load to probe; None when the search is over (see `answer`)."""
    if not probes:
        return _rounded(spec, spec.start)
    if len(probes) >= spec.max_probes:
        return None
    held, broke = bracket(probes)
    if broke is None:  # still climbing
        top = max(p.load for p in probes)
        return None if top >= spec.maximum else _rounded(spec, min(top * GROWTH, spec.maximum))
    low = 0.0 if held is None else held.load
    if held is None and broke.load <= spec.floor:
        return None
    if narrow(spec, low, broke.load):
        return None
    middle = (low + broke.load) / 2
    return float(math.floor(middle)) if spec.whole else middle


def _rounded(spec: SearchSpec, load: float) -> float:
    return float(max(1, round(load))) if spec.whole else load


@dataclass(frozen=True, slots=True)
class Answer:
    """The capacity: the largest load that held every objective (0: none held), and why the
    search stopped."""

    capacity: float
    held: Probe | None
    broke: Probe | None
    reason: str
    converged: bool  # the bracket is within the precision (or 1 user wide)


def answer(spec: SearchSpec, probes: Sequence[Probe]) -> Answer:
    """What the probes so far say."""
    held, broke = bracket(probes)
    capacity = 0.0 if held is None else held.load
    unit = "users" if spec.whole else "req/s"
    if broke is None:
        top = max((p.load for p in probes), default=0.0)
        if top >= spec.maximum:
            flag = "--max-users" if spec.whole else "--max-rate"
            return Answer(capacity, held, None, f"held at {flag} ({top:g} {unit})", False)
        return Answer(capacity, held, None, f"stopped after {len(probes)} probes", False)
    if held is None and broke.load <= spec.floor:
        return Answer(0.0, None, broke, f"broke at the smallest load ({broke.load:g} {unit})", True)
    low = capacity
    if narrow(spec, low, broke.load):
        width = "1 user" if spec.whole and broke.load - low <= 1 else f"{spec.precision:.0%}"
        return Answer(capacity, held, broke, f"bracket within {width}", True)
    return Answer(capacity, held, broke, f"probe limit ({spec.max_probes}) reached", False)


def replay(
    spec: SearchSpec,
    levels: Sequence[LevelSummary | None],
    slos: Sequence[Slo],
) -> list[Probe]:
    """The probes of a finished run, from its levels in order (None: a level without a
    summary): each level's load is the one the search asked for at that point."""
    probes: list[Probe] = []
    for index, level in enumerate(levels):
        load = next_load(spec, probes)
        if load is None:
            break
        stage = level.stage_index if level is not None else index
        probes.append(Probe(load, stage, verdict(slos, level)))
    return probes


@dataclass(frozen=True, slots=True)
class CapacityReport:
    """summary.json's `capacity` section."""

    mode: Mode
    slos: list[str]
    precision: float
    capacity: float
    reason: str
    converged: bool
    held_stage_index: int | None
    broke_stage_index: int | None
    probes: list[dict[str, Any]] = field(default_factory=list)
    need: float | None = None

    @classmethod
    def of(
        cls,
        spec: SearchSpec,
        slos: Sequence[Slo],
        probes: Sequence[Probe],
        need: float | None = None,
    ) -> CapacityReport:
        found = answer(spec, probes)
        return cls(
            mode=spec.mode,
            slos=[str(s) for s in slos],
            precision=spec.precision,
            capacity=found.capacity,
            reason=found.reason,
            converged=found.converged,
            held_stage_index=None if found.held is None else found.held.stage_index,
            broke_stage_index=None if found.broke is None else found.broke.stage_index,
            probes=[_probe_dict(p) for p in probes],
            need=need,
        )

    @property
    def enough(self) -> bool | None:
        """--need: does the capacity reach it (None: not asked)."""
        return None if self.need is None else self.capacity >= self.need

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CapacityReport:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def _probe_dict(probe: Probe) -> dict[str, Any]:
    return {
        "load": probe.load,
        "stage_index": probe.stage_index,
        "held": probe.held,
        "breaches": [{**asdict(b), "excess": b.excess} for b in probe.breaches],
    }
