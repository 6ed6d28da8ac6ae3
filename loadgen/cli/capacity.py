"""`loadgen capacity`: the largest load that holds every SLO, found by one Locust run whose
levels are the probes of a search (loadgen/capacity.py, driven by loadgen/swarm/capacity_shape.py).

Closed loop over users, or open loop over --rate with --max-concurrency users. Exit 0, or with
--need N: 0 if the capacity is at least N, 1 if not; 2 for bad input (before any load).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import click

from loadgen.capacity import CapacityReport, SearchSpec, replay, with_error_gate
from loadgen.capacity_table import format_capacity
from loadgen.cli.influx_options import locust_args, locust_env
from loadgen.cli.influx_options import settings_from_options as influx_settings
from loadgen.cli.swarm import (
    LOCUSTFILE,
    PACKAGE_DIR,
    USER_CLASS,
    RunSpec,
    _run_values,
    child_env,
    echo_end,
    echo_notes,
    fallback_meta,
    first_ramp,
    restore_influx,
    run_fingerprint,
    run_locust,
    target,
)
from loadgen.cli.swarm_flags import options_for
from loadgen.errors import LoadgenError
from loadgen.flags import AUTO, CAPACITY, check_values, child_argv, seconds_of, value_of
from loadgen.level_summary import LevelSummary
from loadgen.line_protocol import encode
from loadgen.results import CSV_PREFIX, make_run_id, prepare_results_dir, write_summary
from loadgen.run.plan import StepPlan, parse_users
from loadgen.run.run_end import finish_results
from loadgen.schema import capacity_point, run_tags
from loadgen.sinks.influx_http import InfluxHttp, preflight
from loadgen.slo import Slo, parse_slos
from loadgen.summary import RunSummary
from loadgen.workload import load_dataset

SHAPEFILE = PACKAGE_DIR / "capacity_shapefile.py"


@dataclasses.dataclass(frozen=True, slots=True)
class CapacitySpec:
    """Everything checked before any load starts."""

    run: RunSpec
    search: SearchSpec
    objectives: tuple[Slo, ...]  # the SLOs and the error gate: what every probe must hold
    need: float | None


def check_capacity(opts: dict[str, Any]) -> CapacitySpec:
    """Validate every flag; LoadgenError (exit 2) before any process starts."""
    check_values(opts)
    slos = parse_slos(opts.get("slo") or ())
    if not slos:
        raise LoadgenError("give at least one --slo, e.g. --slo ttft_p95_ms<=500")
    if opts["sim"] and opts["host"]:
        raise LoadgenError("give either --host or --sim, not both")
    (start,) = _one_level(opts["users"])
    rate = opts["rate"]
    if rate is None and opts["max_concurrency"] is not None:
        raise LoadgenError("--max-concurrency only applies with --rate (open loop)")
    if rate is None:
        search = _search(opts, "users", float(start), float(opts["max_users"]))
        users = start
    else:
        search = _search(opts, "rate", float(rate), float(opts["max_rate"]))
        users = opts["max_concurrency"] or 64
    plan = _probe_plan(opts, users, rate)
    if opts["dataset"]:
        load_dataset(opts["dataset"], max_turns=opts["turns"])
    influx = influx_settings(opts)
    if influx is not None:
        influx = preflight(influx)
    run_id = opts.get("run_id") or make_run_id()
    results_dir = Path(opts["results"] or Path("results") / run_id)
    prepare_results_dir(results_dir, bool(opts.get("overwrite")))
    run = RunSpec(
        plan,
        rate,
        slos,
        run_id,
        results_dir,
        locust_args(influx) if influx is not None else [],
        locust_env(influx) if influx is not None else {},
        influx,
    )
    objectives = with_error_gate(slos, float(opts["max_error_rate"]))
    return CapacitySpec(run, search, objectives, opts["need"])


def _probe_plan(opts: dict[str, Any], users: int, rate: float | None) -> StepPlan:
    """A probe is a swarm level: --step-time, or auto (until measured, --max-step-time at
    most), --warmup, and its users started over --ramp (open loop: at once)."""
    auto = value_of(opts, "step-time") == AUTO
    length = seconds_of(opts, "max-step-time" if auto else "step-time")
    ramp = None if rate is not None or opts["ramp"] is None else seconds_of(opts, "ramp")
    warmup = seconds_of(opts, "warmup")
    return StepPlan((users,), length, warmup, opts["spawn_rate"], ramp_s=ramp, auto=auto)


def _one_level(text: str) -> tuple[int]:
    levels = parse_users(text)
    if len(levels) != 1:
        raise LoadgenError("--users: loadgen capacity starts from one user count, e.g. --users 4")
    return (levels[0],)


def _search(opts: dict[str, Any], mode: str, start: float, maximum: float) -> SearchSpec:
    return SearchSpec(
        mode="users" if mode == "users" else "rate",
        start=start,
        maximum=maximum,
        precision=float(opts["precision"]),
        max_probes=int(opts["max_probes"]),
    )


def capacity_argv(
    opts: dict[str, Any], spec: CapacitySpec, info: Any, first_ramp_s: float | None
) -> list[str]:
    """The Locust child's command line: the swarm's, with the capacity shape and its search."""
    values = _run_values(opts, spec.run, info, first_ramp_s)
    values["capacity_slo"] = ",".join(str(s) for s in spec.objectives)
    argv = [sys.executable, "-m", "locust", "-f", f"{LOCUSTFILE},{SHAPEFILE}"]
    argv += child_argv(values)
    argv += ["--csv", str(spec.run.results_dir / CSV_PREFIX), "--skip-log-setup"]
    return [*argv, "--headless", "--only-summary", USER_CLASS]


def search_report(summary: RunSummary, spec: CapacitySpec) -> CapacityReport:
    """The search, replayed from the run's levels in order (a level without a summary broke)."""
    measured = {level.stage_index: level for level in summary.levels}
    indexes = [stage.index for stage in summary.stages] or sorted(measured)
    levels: list[LevelSummary | None] = [measured.get(i) for i in indexes]
    probes = replay(spec.search, levels, spec.objectives)
    return CapacityReport.of(spec.search, spec.objectives, probes, spec.need)


def write_influx(spec: CapacitySpec, summary: RunSummary, report: CapacityReport) -> str:
    """One `llm_capacity` point; a line saying what became of it."""
    if spec.run.influx is None:
        return ""
    held = next((lv for lv in summary.levels if lv.stage_index == report.held_stage_index), None)
    broke = next((p for p in report.probes if p["stage_index"] == report.broke_stage_index), None)
    fields = {
        "capacity": report.capacity,
        "precision": report.precision,
        "need": report.need,
        "probes": len(report.probes),
        "converged": report.converged,
        "enough": report.enough,
        "slos": ",".join(report.slos),
        "reason": report.reason,
        "broke_load": None if broke is None else broke["load"],
        "broke_by": None if broke is None else ",".join(b["slo"] for b in broke["breaches"]),
    }
    if held is not None:
        fields |= {"output_tok_s": held.output_tok_s, "req_s": held.req_s}
        fields |= {"ttft_p50_ms": held.ttft_p50_ms, "ttft_p95_ms": held.ttft_p95_ms}
        fields["itl_p99_ms"] = held.itl_p99_ms
    m = summary.meta
    tags = run_tags(summary.run_id, m.engine, m.model, m.api, m.user_class)
    point = capacity_point(tags, report.mode, fields, m.end_unix_ns or time.time_ns())
    client = InfluxHttp(spec.run.influx)
    try:
        outcome = client.write(encode([point]))
    finally:
        client.close()
    if outcome.kind == "ok":
        return "influx: 1 llm_capacity point written"
    return f"influx: the llm_capacity point was not written: {outcome.reason}"


@click.command("capacity")
@options_for(CAPACITY)
def capacity(**opts: Any) -> None:
    """Find the largest load that holds every --slo: probe upward (doubling), then bisect,
    until the bracket is within --precision. Closed loop over users (--users is the first
    probe, --max-users the last), or open loop over --rate with --max-concurrency users. Each
    probe is a steady level (--step-time auto: until measured); one that never settles
    breaks. All land in one results directory. Exit 0; with --need N, exit 1 if the capacity
    is below N; 2 for bad input."""
    spec = check_capacity(opts)
    with target(opts) as info:
        engine = opts["engine"] or info.engine
        fingerprint = run_fingerprint(opts, info, engine)
        argv = capacity_argv(opts, spec, info, first_ramp(opts, spec.run, info))
        child = run_locust(argv, child_env(opts, spec.run))
    meta = fallback_meta(spec.run, info, engine)
    plan = spec.run.plan
    summary, notes = finish_results(
        spec.run.results_dir, opts["sim"], child, meta, plan.warmup_s, plan.auto, fingerprint
    )
    restore_influx(spec.run, child, notes)
    ended = echo_end(child, summary)
    if summary is None:
        raise LoadgenError(f"the run wrote no summary in {spec.run.results_dir}")
    report = search_report(summary, spec)
    summary = dataclasses.replace(summary, capacity=report.to_dict())
    write_summary(spec.run.results_dir, summary)
    click.echo(format_capacity(report, summary.levels))
    for line in summary.diagnostics.lines() if summary.diagnostics else ():
        click.echo(line)  # Ollama's capacity traps (loadgen/diagnostics.py), as swarm prints them
    click.echo(f"results: {spec.run.results_dir}")
    influx_line = write_influx(spec, summary, report)
    if influx_line:
        notes.info.append(influx_line)
    echo_notes(notes)
    if child.interrupted:
        sys.exit(130)
    sys.exit(max(ended, 0 if report.enough in (None, True) else 1))
