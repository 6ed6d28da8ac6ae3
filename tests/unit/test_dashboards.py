"""Generated Grafana dashboards: up to date, valid, and every query filtered by time and run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from loadgen import schema
from loadgen.dashboards.build import BUILDERS, DASHBOARD_DIR, render, stale
from loadgen.dashboards.influxql import field
from loadgen.dashboards.panels import DATASOURCE_UID

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "grafana" / "schema" / "dashboard.schema.json").read_text())
# Keys of Grafana's InfluxDB annotation that the SDK's generic annotation model does not carry.
INFLUX_ANNOTATION_KEYS = {"query", "textColumn", "tagsColumn"}
RUN_FILTER = re.compile(r'"run_id" =~ /\^\$(run_id|baseline)\$/')


def dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads((DASHBOARD_DIR / name).read_text()) for name in BUILDERS}


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, query) of every panel target and annotation."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']}/{target['refId']}", target["query"]
    for annotation in board["annotations"].get("list", []):
        yield f"annotation {annotation['name']}", annotation["query"]


def test_committed_json_matches_the_generator() -> None:
    assert stale() == [], "run: python -m loadgen.dashboards"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_validates_against_the_dashboard_schema(name: str) -> None:
    jsonschema.validate(dashboards()[name], SCHEMA)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_round_trips_through_the_sdk_models(name: str) -> None:
    board = dashboards()[name]
    again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    for annotation in board["annotations"].get("list", []):
        for key in INFLUX_ANNOTATION_KEYS:
            annotation.pop(key)
    assert again == board


def test_schema_rejects_a_broken_dashboard() -> None:
    board = dashboards()["live-run.json"]
    board["panels"][1]["targets"][0]["datasource"]["uid"] = "some-other-uid"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(board, SCHEMA)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_query_filters_on_time_and_run(name: str) -> None:
    found = list(queries(dashboards()[name]))
    assert found
    for where, query in found:
        assert "$timeFilter" in query, where
        assert RUN_FILTER.search(query), where
        for select in re.findall(r"SELECT .*? FROM \(?", query):
            assert select  # every SELECT, inner ones included, is followed by a WHERE below
        assert query.count("WHERE $timeFilter") == query.count("FROM "), where


def test_every_field_name_comes_from_the_schema() -> None:
    quoted = {
        name
        for board in dashboards().values()
        for _, query in queries(board)
        for name in re.findall(r'(?<![ (]AS )"([a-z_0-9]+)"', query)
    }
    known = {f for m in schema.MEASUREMENTS.values() for f in (*m.fields, *m.tags, m.name)}
    aliases = {"users", "p50", "p95", "p99", "running", "waiting", "errors", "used", "reserved"}
    assert quoted - known - aliases == set()


def test_field_helper_fails_on_unknown_names() -> None:
    assert field(schema.LLM_STAGE, "output_tok_s") == '"output_tok_s"'
    with pytest.raises(KeyError):
        field(schema.LLM_STAGE, "tokens_per_second")


def test_live_dashboard_has_the_issue_panels_and_variables() -> None:
    board = dashboards()["live-run.json"]
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["run_id", "engine", "model", "worker"]
    assert board["templating"]["list"][0]["multi"] is True
    titles = {p["title"] for p in board["panels"]}
    for title in (
        "req/s",
        "output tok/s",
        "TTFT p50 / p95 / p99",
        "E2E p95",
        "error %",
        "users",
        "Users and output tok/s",
        "Errors by type",
        "VRAM used / reserved / total",
        "Engine RSS",
        "KV-cache usage (vLLM)",
    ):
        assert title in titles
    assert "llm_event" in board["annotations"]["list"][0]["query"]


def test_every_target_uses_the_fixed_datasource() -> None:
    for board in dashboards().values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}


def test_render_is_deterministic() -> None:
    build = BUILDERS["scaling-curves.json"]
    assert render(build) == render(build)
