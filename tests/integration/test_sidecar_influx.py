"""Sidecar samples land in a real influxd (1.x) with the schema's measurements, beside the JSONL."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.fixtures.influx import Influxd
from tests.fixtures.net import loadgen_cmd


def test_samples_land_in_influxd_and_jsonl(tmp_path: Path, influxd: tuple[Influxd, str]) -> None:
    server, db = influxd
    out = tmp_path / "results"
    done = subprocess.run(
        loadgen_cmd(
            "sidecar",
            "--run-id",
            "influx-1",
            "--results",
            str(out),
            "--pid",
            str(os.getpid()),
            "--interval",
            "0.25",
            "--duration",
            "1.5",
            "--influx-url",
            server.url,
            "--influx-db",
            db,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (out / "sidecar.jsonl").read_text().splitlines()]
    n_host = sum(1 for x in lines if x["kind"] == "host")
    n_proc = sum(1 for x in lines if x["kind"] == "process")
    assert n_host >= 4
    assert server.count(db, "host", "ram_total_bytes") == n_host
    assert server.count(db, "process", "rss_bytes") == n_proc == n_host
    rows = server.rows(db, 'SELECT rss_bytes, root_pid, run_id FROM "process"')
    assert {r["run_id"] for r in rows} == {"influx-1"} and {r["root_pid"] for r in rows} == {
        os.getpid()
    }
    jsonl_rss = sorted(x["rss_bytes"] for x in lines if x["kind"] == "process")
    assert sorted(r["rss_bytes"] for r in rows) == jsonl_rss  # the same numbers in both sinks
    events = server.rows(db, 'SELECT "text" FROM "llm_event" WHERE "kind" = \'sidecar\'')
    assert any("sampling host and process only" in str(e["text"]) for e in events)
    assert f"influx: {2 * n_host + len(events)} points written, 0 spilled" in done.stdout
