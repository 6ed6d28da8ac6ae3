"""Every dashboard query runs against a real influxd filled by a real run, and returns data.

The run: the simulator (with injected HTTP 500s, so errors exist) and
`loadgen swarm --sidecar --influx-url`, whose sidecar samples the simulator; both write live.
The session's `loadgen capacity --influx-url` run feeds the capacity probes' annotation.
Grafana's macros are replaced by concrete values the way Grafana would ($timeFilter,
$__interval, $run_id, All = .*).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from loadgen.capacity import PROBE_EVENT
from loadgen.dashboards.build import BUILDERS, DASHBOARD_DIR
from loadgen.dashboards.scaling import BREAKDOWN_TITLE, PROBES_ANNOTATION, TRAPS_ANNOTATION
from loadgen.diagnostics import FINDING_EVENT
from loadgen.results import read_summary
from tests.fixtures.capacity import CapacitySearch
from tests.fixtures.influx import Influxd
from tests.fixtures.net import free_port, loadgen_cmd, running
from tests.fixtures.swarm import run_swarm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def filled(
    influxd_shared: Influxd,
    capacity_search: CapacitySearch,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Run the simulator + sidecar + swarm once, into the database that the session's capacity
    search wrote to live."""
    server, db = influxd_shared, capacity_search.db
    tmp = tmp_path_factory.mktemp("dash")
    port = free_port()
    faults = "http500=0.05,busy503=0.05"  # errors, and refusals for the capacity traps
    sim = loadgen_cmd("sim", "--profile", "fast", "--port", str(port), "--faults", faults)
    url = f"http://127.0.0.1:{port}"
    influx = ["--influx-url", server.url, "--influx-flavour", "v1", "--influx-db", db]
    swarm_args = ["--host", url, "--users", "1,3", "--step-time", "4s", "--warmup", "1s"]
    swarm_args += ["--interval", "1s", "--max-error-rate", "1", *influx]  # errors on purpose
    with running(sim, ready_url=f"{url}/sim/gpu", log=tmp / "sim.log") as sim_proc:
        sidecar = ["--sidecar", "--sidecar-pid", str(sim_proc.pid), "--sidecar-interval", "0.5s"]
        run = run_swarm(tmp / "swarm", *swarm_args, *sidecar)
    assert run.returncode == 0, run.stderr[-2000:]
    run_id = run.summary().run_id
    samples = [json.loads(t) for t in (run.results / "sidecar.jsonl").read_text().splitlines()]
    assert any(s["kind"] == "gpu" and s["run_id"] == run_id for s in samples)
    searched = read_summary(capacity_search.results)
    capacity = searched.capacity
    assert capacity is not None
    return {
        "server": server,
        "db": db,
        "run_id": run_id,
        "results": run.results,
        # the search may have run minutes before the swarm, earlier in the session
        "start_ns": min(run.meta()["start_unix_ns"], searched.meta.start_unix_ns),
        "capacity_run_id": searched.run_id,
        "probes": capacity["probes"],
    }


def substitute(query: str, filled: dict[str, Any]) -> str:
    """Grafana's macros and variables as Grafana would expand them for this run (the capacity
    run for the capacity probes' annotation: the swarm's run has no probes)."""
    run_id = filled["capacity_run_id"] if PROBE_EVENT in query else filled["run_id"]
    start_ms = filled["start_ns"] // 10**6 - 120_000
    end_ms = int(time.time() * 1000) + 120_000
    values = {
        "$timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "$__interval_ms": "1000",
        "$__interval": "1s",
        "$run_id": run_id,
        "$baseline": run_id,
        "$engine": ".*",
        "$model": ".*",
        "$worker": ".*",
    }
    for name, value in values.items():
        query = query.replace(name, value)
    assert not re.search(r"\$[A-Za-z_]", query), query  # every variable replaced
    return query


def _queries() -> list[tuple[str, str]]:
    out = []
    for name in BUILDERS:
        board = json.loads((DASHBOARD_DIR / name).read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{name}: {panel['title']} [{target['refId']}]", target["query"]))
        for annotation in board["annotations"].get("list", []):
            out.append((f"{name}: annotation {annotation['name']}", annotation["query"]))
        for variable in board["templating"]["list"]:
            out.append((f"{name}: variable {variable['name']}", variable["query"]))
    return out


QUERIES = _queries()


@pytest.mark.parametrize(("where", "query"), QUERIES, ids=[w for w, _ in QUERIES])
def test_query_returns_data(filled: dict[str, Any], where: str, query: str) -> None:
    server: Influxd = filled["server"]
    result = server.query(substitute(query, filled), filled["db"])["results"][0]  # type: ignore[index]
    assert "error" not in result, result
    series = result.get("series") or []
    values = [v for s in series for row in s["values"] for v in row[1:] if v is not None]
    assert values, f"{where}: no rows"
    if not query.startswith("SHOW"):
        assert any(isinstance(v, int | float) or (isinstance(v, str) and v) for v in values)


def test_variables_list_this_run(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    rows = server.rows(filled["db"], 'SHOW TAG VALUES FROM "llm_request" WITH KEY = "run_id"')
    assert filled["run_id"] in {row["value"] for row in rows}


def test_scaling_panel_has_one_point_per_level(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    board = json.loads((DASHBOARD_DIR / "scaling-curves.json").read_text())
    query = substitute(board["panels"][0]["targets"][0]["query"], filled)
    rows = server.rows(filled["db"], query)
    assert sorted(row["users"] for row in rows) == [1, 3]
    assert all(row["output_tok_s"] > 0 for row in rows)


def test_vram_curve_has_the_sidecars_peak_per_level(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    board = json.loads((DASHBOARD_DIR / "scaling-curves.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == "Users vs peak VRAM"]
    rows = server.rows(filled["db"], substitute(panel["targets"][0]["query"], filled))
    assert sorted(row["users"] for row in rows) == [1, 3]
    assert all(row["vram_peak_bytes"] > 0 for row in rows)


def test_probe_annotation_shows_each_probe_of_a_capacity_run(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    board = json.loads((DASHBOARD_DIR / "scaling-curves.json").read_text())
    (annotation,) = [a for a in board["annotations"]["list"] if a["name"] == PROBES_ANNOTATION]
    rows = server.rows(filled["db"], substitute(annotation["query"], filled))
    probes = filled["probes"]
    assert [row["kind"] for row in rows] == [PROBE_EVENT] * len(probes) == [PROBE_EVENT] * 5
    for row, probe in zip(rows, probes, strict=True):  # in the order they ran
        verdict = "held" if probe["held"] else "broke ttft_p95_ms<=100: ttft_p95_ms = "
        assert row["text"].startswith(
            f"probe {probe['stage_index']}: {probe['load']:g} users {verdict}"
        )
    capacity = server.rows(filled["db"], 'SELECT * FROM "llm_capacity"')
    assert [(row["run_id"], row["capacity"], row["probes"]) for row in capacity] == [
        (filled["capacity_run_id"], 4, 5)
    ]


def test_traps_annotation_shows_the_runs_refusals(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    board = json.loads((DASHBOARD_DIR / "scaling-curves.json").read_text())
    (annotation,) = [a for a in board["annotations"]["list"] if a["name"] == TRAPS_ANNOTATION]
    rows = server.rows(filled["db"], substitute(annotation["query"], filled))
    assert [row["kind"] for row in rows] == [FINDING_EVENT]
    assert "requests refused as busy (HTTP 503, queue full)" in rows[0]["text"]


def test_breakdown_panel_has_the_servers_means_per_level(filled: dict[str, Any]) -> None:
    server: Influxd = filled["server"]
    board = json.loads((DASHBOARD_DIR / "scaling-curves.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == BREAKDOWN_TITLE]
    rows = server.rows(filled["db"], substitute(panel["targets"][0]["query"], filled))
    assert sorted(row["users"] for row in rows) == [1, 3]
    stored = {lv.users: lv for lv in read_summary(filled["results"]).levels}
    for row in rows:  # the simulator's /metrics, as summary.json has them
        level = stored[row["users"]]
        assert row["server_ttft_mean_ms"] == pytest.approx(level.server_ttft_mean_ms)
        assert row["queue_mean_ms"] == pytest.approx(level.queue_mean_ms)
        assert row["client_overhead_ms"] == pytest.approx(level.client_overhead_ms)
