"""The "Scaling curves" and "Run comparison" dashboards, fed by `llm_stage` (a point per level).

Scaling: users against output tok/s, TTFT p50/p95, peak VRAM and where the TTFT goes on the
server (queue, prefill, the client's share), one line per run, plus a per-level table.
Comparison: the reference table's layout, a baseline run against each other run (tok/s, ratio,
TTFT, VRAM per level), and the same curves with one line per run.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from loadgen.capacity import PROBE_EVENT
from loadgen.dashboards import panels as p
from loadgen.dashboards.influxql import RUN_VAR, field, select, tag, tag_values
from loadgen.diagnostics import FINDING_EVENT, RELOAD_EVENT
from loadgen.schema import LLM_EVENT, LLM_STAGE

SCALING_UID = "loadgen-scaling"
PROBES_ANNOTATION = "Capacity probes"  # `loadgen capacity`: each judged probe
TRAPS_ANNOTATION = "Capacity traps"  # Ollama's (loadgen/diagnostics.py): findings and reloads
COMPARISON_UID = "loadgen-comparison"
BASELINE_VAR = "baseline"
_ST = LLM_STAGE
TABLE_FIELDS = (
    "req_s",
    "output_tok_s",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "e2e_p95_ms",
    "error_rate",
    "vram_peak_bytes",
)
CURVES = (
    ("Users vs aggregate output tok/s", ("output_tok_s",), "none"),
    ("Users vs TTFT p50 / p95", ("ttft_p50_ms", "ttft_p95_ms"), "ms"),
    ("Users vs peak VRAM", ("vram_peak_bytes",), "decbytes"),
)
# Where the TTFT goes (loadgen/breakdown.py): means, which add up, per level
BREAKDOWN_TITLE = "Users vs where the TTFT goes (means: queue, prefill, server TTFT, client share)"
BREAKDOWN = ("queue_mean_ms", "prefill_mean_ms", "server_ttft_mean_ms", "client_overhead_ms")
# Reference-table columns: (llm_stage field, column suffix).
COMPARED = (
    ("output_tok_s", "tok/s"),
    ("ttft_p50_ms", "TTFT p50 ms"),
    ("ttft_p95_ms", "TTFT p95 ms"),
    ("vram_peak_bytes", "VRAM bytes"),
)


def stage_query(names: tuple[str, ...], run_var: str = RUN_VAR, narrow: bool = True) -> str:
    """`users` and `names` of every level, one series per run (the XY charts' input)."""
    columns = [field(_ST, "users"), *(field(_ST, n) for n in names)]
    return select(_ST, columns, run_var=run_var, group_by=["run_id"], narrow=narrow)


def _stage_variables(include_baseline: bool) -> list[dash_b.QueryVariable]:
    out = []
    if include_baseline:
        base = tag_values(_ST, "run_id", filtered=False)
        out.append(p.tag_variable(BASELINE_VAR, "baseline run", base, multi=False))
    out.append(p.tag_variable(RUN_VAR, "runs", tag_values(_ST, "run_id", filtered=False)))
    if not include_baseline:  # a comparison spans engines and models: no narrowing there
        out += [
            p.tag_variable("engine", "engine", tag_values(_ST, "engine", filtered=True)),
            p.tag_variable("model", "model", tag_values(_ST, "model", filtered=True)),
        ]
    return out


def _board(title: str, uid: str, include_baseline: bool) -> dash_b.Dashboard:
    board = dash_b.Dashboard(title).uid(uid).tags(["loadgen"]).time("now-24h", "now")
    for variable in _stage_variables(include_baseline):
        board = board.with_variable(variable)
    return board


def _event_annotation(name: str, icon_color: str) -> dash_b.AnnotationQuery:
    annotation = dash_b.AnnotationQuery().name(name).datasource(p.DATASOURCE).enable(True)
    return annotation.icon_color(icon_color)


def _event_query(condition: str) -> str:
    """The selected runs' `llm_event` points that meet `condition`: their text and kind."""
    return select(LLM_EVENT, [field(LLM_EVENT, "text"), '"kind"'], condition, narrow=False)


def probe_annotation() -> dash_b.AnnotationQuery:
    return _event_annotation(PROBES_ANNOTATION, "rgba(138, 43, 226, 1)")


def probe_query() -> str:
    """The `capacity_probe` events of the selected runs: a probe's load and verdict as text."""
    return _event_query(f"{tag(LLM_EVENT, 'kind')} = '{PROBE_EVENT}'")


def traps_annotation() -> dash_b.AnnotationQuery:
    return _event_annotation(TRAPS_ANNOTATION, "rgba(255, 152, 48, 1)")


def traps_query() -> str:
    """The run's diagnostics at its end (refusals, slots, offload) and each model reload."""
    return _event_query(f"{tag(LLM_EVENT, 'kind')} =~ /^({FINDING_EVENT}|{RELOAD_EVENT})$/")


def build_scaling() -> dash_b.Dashboard:
    board = _board("loadgen: scaling curves", SCALING_UID, include_baseline=False)
    board = board.annotation(probe_annotation()).annotation(traps_annotation())
    for title, names, unit in CURVES:
        board = board.with_panel(p.xy_panel(title, stage_query(names), "users", unit))
    board = board.with_panel(p.xy_panel(BREAKDOWN_TITLE, stage_query(BREAKDOWN), "users", "ms", 24))
    units = {"vram_peak_bytes": "decbytes", "error_rate": "percentunit", "req_s": "reqps"}
    per_level = p.table_panel("Per level", [stage_query(TABLE_FIELDS)], units)
    # Over time, where the probes' annotations show: each level's users and TTFT p95.
    levels = stage_query(("ttft_p95_ms",))
    over_time = p.right_axis(
        p.time_panel("Levels over time (capacity probes annotated)", [levels], "none", span=24),
        "ttft_p95_ms",
        "ms",
    )
    return board.with_panel(per_level).with_panel(over_time)


def comparison_query(run_var: str, prefix: str) -> str:
    columns = [field(_ST, "users")]
    columns += [f'{field(_ST, name)} AS "{prefix} {suffix}"' for name, suffix in COMPARED]
    return select(_ST, columns, run_var=run_var, narrow=False)


def _comparison_transforms() -> list[dash_m.DataTransformerConfig]:
    order = ["users", "baseline tok/s", "run tok/s", "ratio"]
    order += [f"{who} {suffix}" for _, suffix in COMPARED[1:] for who in ("baseline", "run")]
    binary = {"left": "run tok/s", "operator": "/", "right": "baseline tok/s"}
    return [
        dash_m.DataTransformerConfig(
            id_val="joinByField", options={"byField": "users", "mode": "outer"}
        ),
        dash_m.DataTransformerConfig(
            id_val="calculateField",
            options={"mode": "binary", "binary": binary, "alias": "ratio", "replaceFields": False},
        ),
        dash_m.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True, "Time 1": True, "Time 2": True},
                "indexByName": {name: i for i, name in enumerate(order)},
            },
        ),
    ]


def build_comparison() -> dash_b.Dashboard:
    board = _board("loadgen: run comparison", COMPARISON_UID, include_baseline=True)
    queries = [comparison_query(BASELINE_VAR, "baseline"), comparison_query(RUN_VAR, "run")]
    side_by_side = (
        p.table_panel(
            f"${BASELINE_VAR} vs ${RUN_VAR}: per level",
            queries,
            {"baseline VRAM bytes": "decbytes", "run VRAM bytes": "decbytes", "ratio": "suffix:x"},
        )
        .transformations(_comparison_transforms())
        .repeat(RUN_VAR)
        .repeat_direction("v")
    )
    board = board.with_panel(side_by_side)
    for title, names, unit in CURVES:
        curve = p.xy_panel(title, stage_query(names, BASELINE_VAR, narrow=False), "users", unit)
        extra = p.InfluxQuery("B", stage_query(names, RUN_VAR, narrow=False), "table")
        board = board.with_panel(curve.with_target(extra))
    return board
