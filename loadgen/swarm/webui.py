"""The LLM numbers in Locust's web UI: live TTFT/ITL/TPOT and tok/s, and whole-run LLM stats.

Uses Locust's web UI extension points (template_args extended_tabs/extended_tables/
extended_csv_files and the `extended_stats` key of /stats/requests), plus JSON and CSV routes.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any, Protocol

from loadgen.swarm import llm_stats
from loadgen.swarm.progress import LiveSnapshot

TAB_KEY = "llm"  # the live window
TOTALS_TAB_KEY = "llm_stats"  # the whole run, like Locust's Statistics tab
STATS_ROUTE = "/loadgen/stats"
CSV_ROUTE = "/loadgen/stats/csv"


class LiveSource(Protocol):
    """What the UI reads: the conductor's live window and run identity."""

    @property
    def collector(self) -> Any: ...

    @property
    def session(self) -> Any: ...


LIVE_STRUCTURE = [
    {"key": "metric", "title": "Metric (last 10 s)"},
    {"key": "value", "title": "Value"},
    {"key": "p50", "title": "p50"},
    {"key": "p95", "title": "p95"},
    {"key": "p99", "title": "p99"},
]


def rows(snap: LiveSnapshot) -> list[dict[str, Any]]:
    """The tab's table: one row per metric over the live window."""

    def pct(name: str, values: dict[str, float | None]) -> dict[str, Any]:
        cells = {k: None if v is None else round(v, 1) for k, v in values.items()}
        return {"metric": name, "value": None, **cells}

    return [
        {"metric": "output tok/s", "value": round(snap.output_tok_per_s, 1)},
        {"metric": "req/s", "value": round(snap.req_per_s, 2)},
        pct("TTFT ms", snap.ttft_ms),
        pct("ITL ms", snap.itl_ms),
        pct("TPOT ms", snap.tpot_ms),
        {"metric": "errors (run)", "value": snap.total_errors},
        {"metric": "requests (run)", "value": snap.total_requests},
    ]


def stats_payload(source: LiveSource) -> dict[str, Any]:
    """`/loadgen/stats`: the live window plus the run's identity."""
    snap = source.collector.live.snapshot(time.time_ns())
    context = source.session.context
    return {
        "run_id": context.run_id,
        "model": context.model,
        "api": context.api,
        "window_s": snap.span_s,
        "output_tok_s": snap.output_tok_per_s,
        "req_s": snap.req_per_s,
        "ttft_ms": snap.ttft_ms,
        "itl_ms": snap.itl_ms,
        "tpot_ms": snap.tpot_ms,
        "requests": snap.total_requests,
        "errors": snap.total_errors,
        "levels": [level.to_dict() for level in source.collector.tracker.levels],
        "llm_stats": llm_stats.table_rows(source.session.llm_stats),
    }


def stats_csv(source: LiveSource) -> str:
    """The whole run's LLM stats as CSV (the columns of <csv prefix>_llm_stats.csv)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([llm_stats.csv_header(), *llm_stats.csv_rows(source.session.llm_stats)])
    return out.getvalue()


def install(environment: Any, web_ui: Any, source: LiveSource) -> None:
    """Add the LLM tabs, their data in /stats/requests, the CSV download and the JSON route."""
    from flask import Response, request

    web_ui.template_args.update(
        extended_tabs=[
            {"title": "LLM", "key": TAB_KEY},
            {"title": "LLM stats", "key": TOTALS_TAB_KEY},
        ],
        extended_tables=[
            {"key": TAB_KEY, "structure": LIVE_STRUCTURE},
            {"key": TOTALS_TAB_KEY, "structure": llm_stats.table_structure()},
        ],
        extended_csv_files=[{"href": "." + CSV_ROUTE, "title": "Download LLM stats CSV"}],
    )

    def _extend(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        snap = source.collector.live.snapshot(time.time_ns())
        extended = [
            {"key": TAB_KEY, "data": rows(snap)},
            {"key": TOTALS_TAB_KEY, "data": llm_stats.table_rows(source.session.llm_stats)},
        ]
        response.set_data(json.dumps({**response.json, "extended_stats": extended}))
        return response

    def _loadgen_stats() -> Any:
        return Response(json.dumps(stats_payload(source)), mimetype="application/json")

    def _loadgen_csv() -> Any:
        return Response(stats_csv(source), mimetype="text/csv")

    web_ui.app.after_request(_extend)
    web_ui.app.add_url_rule(STATS_ROUTE, "loadgen_stats", _loadgen_stats)
    web_ui.app.add_url_rule(CSV_ROUTE, "loadgen_stats_csv", _loadgen_csv)
