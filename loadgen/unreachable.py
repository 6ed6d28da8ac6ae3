"""When the engine stopped answering: the rule over a run's RequestRecords (pure).

The engine became unreachable when the run ends with a tail of `connect` errors: after the last
successful request come at least UNREACHABLE_CONNECT_ERRORS of them, and the tail's last failure
that was not cut short (`truncated`: cut off mid-stream or by the run's end) is one too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from loadgen.levels import wall_end_unix_ns
from loadgen.records import RequestRecord
from loadgen.summary import RunSummary

UNREACHABLE_CONNECT_ERRORS = 3  # fewer is a blip, not an engine gone


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The engine's last stretch: unreachable from `since_unix_ns` (the first connect error's
    wall-clock end) with `connect_errors` connect errors after it and no success."""

    since_unix_ns: int
    connect_errors: int


def engine_unreachable(
    records: Iterable[RequestRecord], min_connect_errors: int = UNREACHABLE_CONNECT_ERRORS
) -> Unreachable | None:
    """The unreachable tail of a run (records in any order, as requests.jsonl holds them), or
    None when the engine answered to the end."""
    ordered = sorted(records, key=wall_end_unix_ns)
    last_ok = max((i for i, r in enumerate(ordered) if r.ok), default=-1)
    tail = ordered[last_ok + 1 :]
    connect = [r for r in tail if r.error_type == "connect"]
    settled = [r for r in tail if r.error_type != "truncated"]
    if len(connect) < min_connect_errors or settled[-1].error_type != "connect":
        return None
    return Unreachable(wall_end_unix_ns(connect[0]), len(connect))


def with_unreachable(summary: RunSummary, records: Iterable[RequestRecord]) -> RunSummary:
    """`summary` with its `engine_unreachable_*` fields set from the run's records."""
    found = engine_unreachable(records)
    if found is None:
        return replace(summary, engine_unreachable_unix_ns=None, engine_unreachable_errors=0)
    return replace(
        summary,
        engine_unreachable_unix_ns=found.since_unix_ns,
        engine_unreachable_errors=found.connect_errors,
    )
