"""Render every dashboard to JSON and write (or check) grafana/dashboards/*.json.

The SDK builds the dashboard models; the InfluxDB annotation keys it has no model for
(`query`, `textColumn`, `tagsColumn`) are added to the JSON here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from loadgen.dashboards import live, scaling

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"
BUILDERS: dict[str, Callable[[], dash_b.Dashboard]] = {
    "live-run.json": live.build,
    "scaling-curves.json": scaling.build_scaling,
    "run-comparison.json": scaling.build_comparison,
}


def render(build: Callable[[], dash_b.Dashboard]) -> dict[str, Any]:
    """One dashboard as the plain JSON dict Grafana provisions."""
    data: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number  # stable ids: links and repeats refer to panels by id
    queries = {
        "Run events": live.event_query(),
        scaling.PROBES_ANNOTATION: scaling.probe_query(),
        scaling.TRAPS_ANNOTATION: scaling.traps_query(),
    }
    for annotation in data.get("annotations", {}).get("list", []):
        if annotation.get("name") in queries:
            query = queries[annotation["name"]]
            annotation.update({"query": query, "textColumn": "text", "tagsColumn": "kind"})
    return data


def render_all() -> dict[str, str]:
    """file name -> JSON text (stable: sorted keys, two-space indent, final newline)."""
    return {
        name: json.dumps(render(build), indent=2, sort_keys=True) + "\n"
        for name, build in BUILDERS.items()
    }


def write_all(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Names of committed dashboards that differ from what the code generates."""
    out = []
    for name, text in render_all().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out
