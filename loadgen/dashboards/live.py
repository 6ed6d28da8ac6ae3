"""The "Live run" dashboard: stats, load and latency over time, GPU, engine, and run events."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as dash_m

from loadgen.dashboards import panels as p
from loadgen.dashboards.influxql import field, percentiles, rate, select, tag_values
from loadgen.schema import ENGINE, GPU, LLM_EVENT, LLM_INTERVAL, LLM_REQUEST, PROCESS

UID = "loadgen-live"
OK = "\"status\" = 'ok'"
_RQ, _IV = LLM_REQUEST, LLM_INTERVAL


def users_query() -> str:
    """Users per run, summed over workers: each worker's highest count per bucket, then the sum."""
    inner = select(
        _IV, [f'max({field(_IV, "users")}) AS "users"'], by_time=True, group_by=["run_id", "worker"]
    )
    return (
        f'SELECT sum("users") AS "users" FROM ({inner}) WHERE $timeFilter '
        f'AND "run_id" =~ /^$run_id$/ GROUP BY time($__interval), "run_id" fill(none)'
    )


def stat_panels() -> list[stat.Panel]:
    def rq_p(name: str, pct: int) -> str:
        return select(_RQ, [f"percentile({field(_RQ, name)}, {pct})"], OK)

    error_pct = f"sum({field(_IV, 'errors')}) * 100 / sum({field(_IV, 'requests')})"
    return [
        p.stat_panel(
            "req/s", select(_IV, [rate(_IV, "requests", "req/s")], by_time=True), "reqps", 2
        ),
        p.stat_panel(
            "output tok/s", select(_IV, [rate(_IV, "output_tokens", "tok/s")], by_time=True), "none"
        ),
        p.stat_panel(
            "TTFT p50 / p95 / p99", select(_RQ, percentiles(_RQ, "ttft_ms", (50, 95, 99)), OK), "ms"
        ).span(6),
        p.stat_panel("ITL p95 (per-request mean ITL)", rq_p("itl_mean_ms", 95), "ms", 1),
        p.stat_panel("E2E p95", rq_p("e2e_ms", 95), "ms"),
        p.stat_panel("error %", select(_IV, [f'{error_pct} AS "error %"']), "percent", 2),
        p.stat_panel("users", users_query(), "none"),
    ]


def load_panels() -> list[timeseries.Panel]:
    tok = select(_IV, [rate(_IV, "output_tokens", "output tok/s")], by_time=True)
    users_tok = p.time_panel("Users and output tok/s", [users_query(), tok], "none")
    ttft = select(_RQ, percentiles(_RQ, "ttft_ms", (50, 95, 99)), OK, by_time=True)
    errors = select(
        _RQ,
        [f'count({field(_RQ, "seq")}) AS "errors"'],
        "\"status\" = 'error'",
        by_time=True,
        group_by=["error_type"],
    )
    return [
        p.right_axis(users_tok, "output tok/s", "none"),
        p.time_panel("TTFT percentiles", [ttft], "ms"),
        p.time_panel("Errors by type", [errors], "none", alias="$tag_error_type"),
    ]


def gpu_panels() -> list[timeseries.Panel]:
    vram = select(
        GPU,
        [
            f'max({field(GPU, "vram_used_bytes")}) AS "used"',
            f'max({field(GPU, "vram_reserved_bytes")}) AS "reserved"',
            f'max({field(GPU, "vram_total_bytes")}) AS "total"',
        ],
        by_time=True,
        group_by=["gpu_index"],
    )
    alias = "GPU $tag_gpu_index $col"

    def one(title: str, name: str, unit: str) -> timeseries.Panel:
        query = select(
            GPU, [f'mean({field(GPU, name)}) AS "{name}"'], by_time=True, group_by=["gpu_index"]
        )
        return p.time_panel(title, [query], unit, alias=alias, span=6)

    return [
        p.time_panel("VRAM used / reserved / total", [vram], "decbytes", alias=alias),
        one("GPU utilization", "gpu_util_pct", "percent"),
        one("GPU power", "power_w", "watt"),
        one("GPU temperature", "temperature_c", "celsius"),
    ]


def engine_panels() -> list[timeseries.Panel]:
    def proc(name: str) -> str:
        return select(
            PROCESS,
            [f'mean({field(PROCESS, name)}) AS "{name}"'],
            by_time=True,
            group_by=["process_name"],
        )

    queue = select(
        ENGINE,
        [
            f'mean({field(ENGINE, "requests_running")}) AS "running"',
            f'mean({field(ENGINE, "requests_waiting")}) AS "waiting"',
        ],
        by_time=True,
    )
    kv = select(
        ENGINE, [f'mean({field(ENGINE, "kv_cache_usage_ratio")}) AS "KV cache"'], by_time=True
    )
    return [
        p.time_panel("Engine RSS", [proc("rss_bytes")], "decbytes", "$tag_process_name", span=6),
        p.time_panel("Engine CPU", [proc("cpu_pct")], "percent", "$tag_process_name", span=6),
        p.time_panel("Engine requests running / waiting (vLLM)", [queue], "none", span=6),
        p.time_panel("KV-cache usage (vLLM)", [kv], "percentunit", span=6),
    ]


def generator_panels() -> list[timeseries.Panel]:
    """Each worker's own CPU and event-loop lag: a saturated generator is not a slow engine."""

    def per_worker(name: str) -> str:
        return select(
            _IV, [f'max({field(_IV, name)}) AS "{name}"'], by_time=True, group_by=["worker"]
        )

    return [
        p.time_panel(
            "Load generator CPU per worker", [per_worker("cpu_pct")], "percent", "$tag_worker", 6
        ),
        p.time_panel(
            "Load generator event-loop lag p99 per worker",
            [per_worker("loop_lag_p99_ms")],
            "ms",
            "$tag_worker",
            6,
        ),
    ]


def event_annotation() -> dash_b.AnnotationQuery:
    return (
        dash_b.AnnotationQuery()
        .name("Run events")
        .datasource(p.DATASOURCE)
        .enable(True)
        .icon_color("rgba(255, 96, 96, 1)")
    )


def event_query() -> str:
    return select(LLM_EVENT, [field(LLM_EVENT, "text"), '"kind"'], narrow=False)


def variables() -> list[dash_b.QueryVariable]:
    return [
        p.tag_variable("run_id", "run", tag_values(_RQ, "run_id", filtered=False)),
        p.tag_variable("engine", "engine", tag_values(_RQ, "engine", filtered=True)),
        p.tag_variable("model", "model", tag_values(_RQ, "model", filtered=True)),
        p.tag_variable("worker", "worker", tag_values(_RQ, "worker", filtered=True)),
    ]


def build() -> dash_b.Dashboard:
    board = (
        dash_b.Dashboard("loadgen: live run")
        .uid(UID)
        .tags(["loadgen"])
        .time("now-30m", "now")
        .refresh("5s")
        .annotation(event_annotation())
    )
    for variable in variables():
        board = board.with_variable(variable)
    sections: list[tuple[str, Sequence[cogbuilder.Builder[dash_m.Panel]]]] = [
        ("Load", [*stat_panels(), *load_panels()]),
        ("GPU", gpu_panels()),
        ("Engine", engine_panels()),
        ("Load generator", generator_panels()),
    ]
    for title, section in sections:
        board = board.with_row(p.row(title))
        for panel in section:
            board = board.with_panel(panel)
    return board
