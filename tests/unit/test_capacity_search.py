"""The capacity search as a pure function: doubling, bisection, stopping rules, the answer."""

from __future__ import annotations

import dataclasses

import pytest

from loadgen.capacity import (
    CapacityReport,
    Probe,
    SearchSpec,
    answer,
    next_load,
    replay,
    verdict,
    with_error_gate,
)
from loadgen.errors import LoadgenError
from loadgen.level_summary import LevelSummary
from loadgen.slo import parse_slo

SLO = parse_slo("ttft_p95_ms<=500")


def run_search(spec: SearchSpec, capacity: float) -> list[Probe]:
    """Drive the search against an engine whose true capacity is `capacity`."""
    probes: list[Probe] = []
    while (load := next_load(spec, probes)) is not None:
        broke = () if load <= capacity else verdict([SLO], level(ttft_p95_ms=900.0))
        probes.append(Probe(load, len(probes), broke))
        assert len(probes) <= spec.max_probes
    return probes


def level(**fields: float | None) -> LevelSummary:
    base = {f.name: 0.0 for f in dataclasses.fields(LevelSummary) if f.default is not None}
    base.update(stage_index=0, users=1, errors_by_type={}, error_samples={}, n_out_sources={})
    base.update(ttft_p95_ms=100.0, error_rate=0.0)
    base.update(fields)
    return LevelSummary(**base)  # type: ignore[arg-type]


def test_doubles_then_bisects_users_to_one_user() -> None:
    spec = SearchSpec("users", start=1, maximum=256, precision=0.01, max_probes=20)
    probes = run_search(spec, capacity=37)
    loads = [p.load for p in probes]
    assert loads[:7] == [1, 2, 4, 8, 16, 32, 64]
    assert loads[7:] == [48, 40, 36, 38, 37]
    found = answer(spec, probes)
    assert (found.capacity, found.converged) == (37, True)
    assert found.broke is not None and found.broke.load == 38
    assert found.reason == "bracket within 1 user"


def test_a_bracket_wider_than_one_user_is_named_by_the_precision() -> None:
    spec = SearchSpec("users", start=4, maximum=16, precision=0.5)
    probes = run_search(spec, capacity=4)
    assert [p.load for p in probes] == [4, 8, 6]  # (4, 6) is within 50 % of 4
    found = answer(spec, probes)
    assert (found.capacity, found.converged) == (4, True)
    assert found.reason == "bracket within 50%"


@pytest.mark.parametrize("capacity", [3, 17, 100, 131, 200])
def test_users_within_the_precision(capacity: int) -> None:
    spec = SearchSpec("users", start=4, maximum=512, precision=0.1)
    found = answer(spec, run_search(spec, capacity))
    assert found.converged
    assert capacity * 0.9 <= found.capacity <= capacity
    assert found.broke is not None and found.broke.load <= found.capacity * 1.1 + 1


def test_rate_bisects_to_the_precision_and_down_from_a_first_breach() -> None:
    spec = SearchSpec("rate", start=8.0, maximum=1000.0, precision=0.1)
    found = answer(spec, run_search(spec, capacity=3.3))
    assert found.converged and 3.3 / 1.1 <= found.capacity <= 3.3
    assert found.held is not None and found.held.load < 8.0  # it went below the first rate


def test_held_at_the_maximum_and_broke_at_the_first_user() -> None:
    spec = SearchSpec("users", start=8, maximum=20)
    probes = run_search(spec, capacity=1000)
    assert [p.load for p in probes] == [8, 16, 20]
    found = answer(spec, probes)
    assert (found.capacity, found.converged, found.broke) == (20, False, None)
    assert found.reason == "held at --max-users (20 users)"
    nothing = answer(spec, run_search(SearchSpec("users", start=1, maximum=20), capacity=0))
    assert (nothing.capacity, nothing.held) == (0, None)
    assert nothing.reason.startswith("broke at the smallest load")


def test_the_probe_limit_bounds_the_search() -> None:
    spec = SearchSpec("users", start=1, maximum=10_000, precision=0.01, max_probes=5)
    probes = run_search(spec, capacity=5000)
    assert len(probes) == 5
    assert answer(spec, probes).reason == "stopped after 5 probes"


def test_a_probe_that_holds_above_a_breach_does_not_move_the_bracket() -> None:
    spec = SearchSpec("users", start=1, maximum=64, precision=0.1)
    broke = verdict([SLO], level(ttft_p95_ms=600.0))
    probes = [Probe(10, 0), Probe(20, 1, broke), Probe(15, 2, broke), Probe(18, 3)]
    found = answer(spec, probes)
    assert found.capacity == 10 and found.broke is not None and found.broke.load == 15


def test_verdict_names_the_slo_the_value_and_the_excess() -> None:
    slos = with_error_gate([SLO, parse_slo("output_tok_s>=100")], max_error_rate=0.05)
    (ttft, errors) = verdict(slos, level(ttft_p95_ms=750.0, output_tok_s=120.0, error_rate=0.2))
    assert (ttft.slo, ttft.value, ttft.excess) == ("ttft_p95_ms<=500", 750.0, 0.5)
    assert ttft.describe() == "ttft_p95_ms<=500: ttft_p95_ms = 750, 50% past the limit"
    assert errors.metric == "error_rate"
    unmeasured = verdict([SLO], None)
    assert unmeasured[0].value is None and "not measured" in unmeasured[0].describe()
    assert with_error_gate([SLO], 1.0) == (SLO,)


def test_replay_rebuilds_the_probes_of_a_run_from_its_levels() -> None:
    spec = SearchSpec("users", start=2, maximum=64, precision=0.1)
    levels = [level(ttft_p95_ms=t) for t in (100.0, 200.0, 900.0, 300.0)]
    levels = [dataclasses.replace(lv, stage_index=i) for i, lv in enumerate(levels)]
    probes = replay(spec, [*levels, None], [SLO])
    assert [p.load for p in probes] == [2, 4, 8, 6, 7]
    assert [p.held for p in probes] == [True, True, False, True, False]
    report = CapacityReport.of(spec, [SLO], probes, need=5)
    assert (report.capacity, report.enough, report.held_stage_index) == (6, True, 3)
    assert CapacityReport.from_dict(report.to_dict()) == report


def test_bad_specs_are_one_line_errors() -> None:
    with pytest.raises(LoadgenError, match="--max-users"):
        SearchSpec("users", start=300, maximum=256)
    with pytest.raises(LoadgenError, match="--precision"):
        SearchSpec("rate", start=1.0, maximum=2.0, precision=1.5)
