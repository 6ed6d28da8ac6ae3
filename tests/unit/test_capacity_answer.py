"""The capacity answer: an unsettled probe breaks, the text `loadgen capacity` prints, and its
`llm_capacity` point (pure)."""

from __future__ import annotations

import dataclasses

from loadgen.capacity import CapacityReport, SearchSpec, replay, verdict, with_error_gate
from loadgen.capacity_table import format_capacity
from loadgen.level_summary import LevelSummary
from loadgen.schema import LLM_CAPACITY, capacity_point, run_tags
from loadgen.slo import parse_slo

SLO = parse_slo("ttft_p95_ms<=500")
NOT_SETTLED = "not settled: last 3 intervals of 1 s: output tok/s within ±40 % (allowed ±25 %)"


def level(index: int, users: int, **fields: object) -> LevelSummary:
    base = {f.name: 0.0 for f in dataclasses.fields(LevelSummary) if f.default is not None}
    base.update(errors_by_type={}, error_samples={}, n_out_sources={}, steady=True)
    base.update(stage_index=index, users=users, req_s=2.0, output_tok_s=64.0, error_rate=0.0)
    base.update(ttft_p50_ms=80.0, ttft_p95_ms=120.0, ttft_p99_ms=130.0, itl_p99_ms=30.0)
    base.update(fields)
    return LevelSummary(**base)  # type: ignore[arg-type]


def test_a_probe_that_never_settled_breaks_steady_with_its_reason() -> None:
    (breach,) = verdict([SLO], level(0, 8, steady=False, steady_reason=NOT_SETTLED))
    assert (breach.slo, breach.metric, breach.value) == ("steady", "steady", None)
    assert breach.describe() == f"steady: {NOT_SETTLED}"
    assert verdict([SLO], level(0, 8, steady=None)) == ()  # not judged (an older run): no breach


def test_the_search_bisects_below_an_unsettled_probe() -> None:
    spec = SearchSpec("users", start=2, maximum=64, precision=0.1)
    levels = [level(0, 2), level(1, 4, steady=False, steady_reason=NOT_SETTLED), level(2, 3)]
    probes = replay(spec, levels, [SLO])
    assert [(p.load, p.held) for p in probes] == [(2, True), (4, False), (3, True)]
    report = CapacityReport.of(spec, [SLO], probes)
    assert (report.capacity, report.broke_stage_index, report.reason) == (
        3,
        1,
        "bracket within 1 user",
    )
    assert report.to_dict()["probes"][1]["breaches"][0]["reason"] == NOT_SETTLED


def search_report(need: float | None) -> tuple[CapacityReport, list[LevelSummary]]:
    spec = SearchSpec("users", start=2, maximum=64, precision=0.1)
    levels = [
        level(0, 2),
        level(1, 4, ttft_p95_ms=900.0),
        level(2, 3, steady=False, steady_reason=NOT_SETTLED),
    ]
    objectives = with_error_gate([SLO], 0.05)
    return CapacityReport.of(spec, objectives, replay(spec, levels, objectives), need), levels


def test_the_table_gives_the_answer_the_first_failing_probe_and_every_probe() -> None:
    report, levels = search_report(need=3)
    lines = format_capacity(report, levels[:2]).splitlines()  # probe 2 has no level: dashes
    assert lines[:5] == [
        "capacity: 2 users (bracket within 1 user) for ttft_p95_ms<=500, error_rate<=0.05",
        "  there: 64.0 tok/s, 2.00 req/s, TTFT p50/p95/p99 80/120/130 ms, ITL p50/p99 0/30 ms",
        "first failing probe: 3 users",
        f"  broke steady: {NOT_SETTLED}",
        "need: 3 users: not enough",
    ]
    assert lines[5] == ""
    assert lines[6].split() == [
        *("probe", "load", "verdict", "req/s", "tok/s", "TTFT", "p50", "TTFT", "p95", "ITL"),
        "p99",
    ]
    assert lines[7].split() == ["0", "2", "users", "held", "2.00", "64.0", "80", "120", "30"]
    broke = ["1", "4", "users", "broke", "ttft_p95_ms", "2.00", "64.0", "80", "900", "30"]
    assert lines[8].split() == broke
    assert lines[9].split() == ["2", "3", "users", "broke", "steady", "-", "-", "-", "-", "-"]
    assert lines[7].index("held") == lines[6].index("verdict")  # columns aligned
    assert all(line == line.rstrip() for line in lines)


def test_the_table_says_what_broke_by_how_much() -> None:
    spec = SearchSpec("rate", start=2, maximum=64, precision=0.1)
    levels = [level(0, 8, ttft_p95_ms=750.0), level(1, 8, ttft_p95_ms=100.0)]
    report = CapacityReport.of(spec, [SLO], replay(spec, levels, [SLO]), need=0.5)
    text = format_capacity(report, levels)
    assert text.startswith("capacity: 1 req/s (")  # the probe at 1 req/s held
    assert "first failing probe: 2 req/s" in text
    assert "  broke ttft_p95_ms<=500: ttft_p95_ms = 750, 50% past the limit" in text
    assert "need: 0.5 req/s: enough" in text
    assert "1      1 req/s  held" in text


def test_the_capacity_point_carries_the_answer_typed() -> None:
    tags = run_tags("r1", "vllm", "llama", "openai", "Chat")
    fields = {
        "capacity": 4,
        "precision": 0.1,
        "need": None,  # not asked: no field
        "probes": 5,
        "converged": True,
        "enough": None,
        "slos": "ttft_p95_ms<=100,error_rate<=0.05",
        "reason": "bracket within 1 user",
        "broke_load": 5,
        "broke_by": "ttft_p95_ms<=100",
        "output_tok_s": 139.0,
        "ttft_p95_ms": 54.5,
    }
    point = capacity_point(tags, "users", fields, 1_700_000_000_000_000_000)
    assert point.measurement == LLM_CAPACITY.name == "llm_capacity"
    assert dict(point.tags) == {**tags, "mode": "users"}
    values = dict(point.fields)
    assert "need" not in values and "enough" not in values
    assert isinstance(values["capacity"], float) and isinstance(values["broke_load"], float)
    assert isinstance(values["probes"], int) and values["converged"] is True
    line = point.to_line()
    assert line.startswith("llm_capacity,api=openai,engine=vllm,mode=users,model=llama,")
    assert "probes=5i" in line and "converged=true" in line and "capacity=4.0" in line
    assert 'reason="bracket within 1 user"' in line
    assert line.endswith(" 1700000000000000000")
    assert set(values) <= set(LLM_CAPACITY.fields)
