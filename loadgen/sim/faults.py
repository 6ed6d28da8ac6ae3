"""Deterministic fault injection: which request gets which fault, drawn from a seeded stream.

Spec: comma-separated `name=rate[:param]`, e.g.
`http500=0.02,busy503=0.01,rate429=0.01:2s,reset=0.01,stall=0.01:3s,malformed=0.01,cut=0.01`.
The n-th request to arrive gets the n-th draw, so a seed replays the same faults in arrival order.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from loadgen.errors import LoadgenError
from loadgen.flags import finite

# Faults answered before any token: an error status instead of a stream.
BEFORE_STREAM = ("http500", "busy503", "rate429")
# Faults that strike mid-stream, after half of the tokens were sent.
MID_STREAM = ("reset", "stall", "malformed", "cut")
FAULT_NAMES = BEFORE_STREAM + MID_STREAM
# Faults whose answer carries Retry-After, their PARAM (seconds); stall's PARAM is its pause.
RETRY_AFTER_FAULTS = ("busy503", "rate429")
_DEFAULT_PARAM_S = {"busy503": 1.0, "rate429": 1.0, "stall": 3.0}
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")

FAULT_HELP = (
    "Inject faults: comma-separated NAME=RATE[:PARAM] with NAME in "
    + ", ".join(FAULT_NAMES)
    + ". busy503's and rate429's PARAM is the Retry-After (default 1s), stall's the pause "
    "(default 3s). "
    "Example: http500=0.02,rate429=0.01:2s,stall=0.01:3s,cut=0.01. Deterministic from --seed."
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: its name and its parameter in seconds (stall, Retry-After)."""

    name: str
    param_s: float = 0.0


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Rates per fault name, parsed from the --faults string."""

    rates: tuple[tuple[str, float, float], ...] = ()  # (name, rate, param_s)

    def __bool__(self) -> bool:
        return bool(self.rates)


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a --faults string; any mistake is a one-line LoadgenError."""
    if not spec or not spec.strip():
        return FaultSpec()
    rates: list[tuple[str, float, float]] = []
    for item in spec.split(","):
        name, sep, rest = item.strip().partition("=")
        if not sep or name not in FAULT_NAMES:
            raise LoadgenError(f"bad --faults item {item.strip()!r}: want NAME=RATE[:PARAM]")
        rate_text, _, param_text = rest.partition(":")
        try:
            rate = float(rate_text)
        except ValueError:
            raise LoadgenError(f"bad --faults rate in {item.strip()!r}") from None
        if not 0.0 <= rate <= 1.0:  # NaN included
            raise LoadgenError(f"--faults rate must be within 0..1 in {item.strip()!r}")
        param_s = _duration_s(param_text, item) if param_text else _DEFAULT_PARAM_S.get(name, 0.0)
        rates.append((name, rate, param_s))
    if sum(r for _, r, _ in rates) > 1.0 + 1e-9:
        raise LoadgenError("--faults rates add up to more than 1")
    return FaultSpec(tuple(rates))


def _duration_s(text: str, item: str) -> float:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise LoadgenError(f"bad --faults duration in {item.strip()!r}: want e.g. 3s or 500ms")
    value = finite(float(match.group(1)), f"--faults duration in {item.strip()!r}")  # 1e400
    return value / 1000.0 if match.group(2) == "ms" else value


class FaultPlan:
    """Draws one fault (or None) per arriving request, reproducibly from the seed."""

    def __init__(self, spec: FaultSpec, seed: int = 0) -> None:
        self.spec = spec
        self._rng = random.Random(seed)
        self.injected: dict[str, int] = {}

    def draw(self) -> Fault | None:
        if not self.spec:
            return None
        u = self._rng.random()
        edge = 0.0
        for name, rate, param_s in self.spec.rates:
            edge += rate
            if u < edge:
                self.injected[name] = self.injected.get(name, 0) + 1
                return Fault(name, param_s)
        return None
