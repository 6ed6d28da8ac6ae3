"""The LLM numbers in Locust's web UI: an extra tab with live TTFT/ITL/TPOT percentiles and tok/s.

Uses Locust's web UI extension points (template_args extended_tabs/extended_tables and the
`extended_stats` key of /stats/requests), plus a JSON route `/loadgen/stats` for scripts.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from loadgen.swarm.progress import LiveSnapshot

TAB_KEY = "llm"
STATS_ROUTE = "/loadgen/stats"


class LiveSource(Protocol):
    """What the UI reads: the conductor's live window and run identity."""

    @property
    def collector(self) -> Any: ...

    @property
    def session(self) -> Any: ...


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
        "levels": [s.to_dict() for s in source.collector.tracker.stages],
    }


def install(environment: Any, web_ui: Any, source: LiveSource) -> None:
    """Add the LLM tab, its data in /stats/requests, and the JSON route."""
    from flask import Response, request

    web_ui.template_args["extended_tabs"] = [{"title": "LLM", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": TAB_KEY,
            "structure": [
                {"key": "metric", "title": "Metric (last 10 s)"},
                {"key": "value", "title": "Value"},
                {"key": "p50", "title": "p50"},
                {"key": "p95", "title": "p95"},
                {"key": "p99", "title": "p99"},
            ],
        }
    ]

    def _extend(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        snap = source.collector.live.snapshot(time.time_ns())
        body = {**response.json, "extended_stats": [{"key": TAB_KEY, "data": rows(snap)}]}
        response.set_data(json.dumps(body))
        return response

    def _loadgen_stats() -> Any:
        return Response(json.dumps(stats_payload(source)), mimetype="application/json")

    web_ui.app.after_request(_extend)
    web_ui.app.add_url_rule(STATS_ROUTE, "loadgen_stats", _loadgen_stats)
