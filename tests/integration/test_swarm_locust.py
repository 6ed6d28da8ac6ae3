"""Plain `locust -f locustfiles/...` and `loadgen ui`: one plugin behind both; real processes."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.net import free_port, loadgen_cmd, running, stop
from tests.fixtures.swarm import SwarmRun

ROOT = Path(__file__).resolve().parents[2]
LLM_TABLE_TITLE = "LLM time percentiles"  # loadgen.swarm.llm_stats (which would import locust)


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    with running(loadgen_cmd("sim", "--port", str(port)), ready_url=url + "/v1/models", log=log):
        yield url


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


EVENT_PROBE = """
import json, os
from loadgen.swarm import events

def _log(hook, **fields):
    with open(os.environ["EVENT_LOG"], "a") as out:
        out.write(json.dumps({"hook": hook, **fields}, default=str) + "\\n")

events.llm_event.add_listener(lambda kind, text, wall_unix_ns, **_: _log("event", kind=kind))
events.llm_stage.add_listener(
    lambda stage, window_start_unix_ns, window_end_unix_ns, **_: _log(
        "stage", users=stage.users, requests=stage.requests,
        window_s=(window_end_unix_ns - window_start_unix_ns) / 1e9,
    )
)
events.llm_interval.add_listener(lambda **kw: _log("interval", **kw))
events.llm_request.add_listener(lambda record, **_: _log("request", run=events.current_run()))
"""


def test_plain_locust_headless_with_the_chat_locustfile(tmp_path: Path, sim_url: str) -> None:
    results, event_log, probe = tmp_path / "r", tmp_path / "events.jsonl", tmp_path / "probe.py"
    probe.write_text(EVENT_PROBE)
    files = f"{ROOT / 'locustfiles' / 'chat.py'},{probe}"
    cmd = [sys.executable, "-m", "locust", "-f", files, "--host", sim_url, "--headless"]
    cmd += ["-u", "2", "-r", "10", "-t", "3s", "--results", str(results), "--output-tokens", "8"]
    cmd += ["--progress", "lines", "--interval", "1"]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "EVENT_LOG": str(event_log)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = SwarmRun(proc.returncode, proc.stdout, proc.stderr, results)
    assert run.records() and run.summary().levels[0].users == 2
    assert {r["user_class"] for r in run.records()} == {"SingleTurnChat"}
    assert "out tok/s" in proc.stdout  # one progress line per interval off a TTY
    # Locust's summary has one row per request (the chat); the LLM times have a table of their own
    locust_part, title, llm_part = proc.stderr.partition(LLM_TABLE_TITLE)
    assert title and set(re.findall(r"^LLM +(\S+)", locust_part, re.M)) == {"chat"}
    assert set(re.findall(r"^LLM +(\S+)", llm_part, re.M)) == {"TTFT", "ITL", "TPOT"}
    hooks = [json.loads(line) for line in event_log.read_text().splitlines()]
    # Lifecycle events in order; health events (generator_saturated) may interleave on 2 cores.
    lifecycle = {"run_start", "stage_start", "stage_end", "run_end"}
    kinds = [h["kind"] for h in hooks if h["hook"] == "event" and h["kind"] in lifecycle]
    assert kinds == ["run_start", "stage_start", "stage_end", "run_end"]
    (stage,) = [h for h in hooks if h["hook"] == "stage"]
    assert stage["users"] == 2 and stage["requests"] > 0 and stage["window_s"] > 0
    intervals = [h for h in hooks if h["hook"] == "interval"]
    assert sum(h["requests"] for h in intervals) == len(run.records())
    assert {h["worker"] for h in intervals} == {r["worker"] for r in run.records()}
    assert sum(h["hook"] == "request" for h in hooks) == len(run.records())
    assert run.summary().run_id in next(h["run"] for h in hooks if h["hook"] == "request")


def test_multiturn_locustfile_loads() -> None:
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "multiturn.py")]
    proc = subprocess.run([*cmd, "--list"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "MultiTurnChat" in proc.stdout


def _wait_for_llm_numbers(base: str, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """/loadgen/stats once both the live window and the whole run's LLM stats have numbers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "loadgen ui exited early"
        try:
            live = _get_json(base + "/loadgen/stats")
        except OSError:
            live = {}
        run_rows = {row["name"]: row for row in live.get("llm_stats", [])}
        if (
            live.get("requests", 0) > 0
            and live["ttft_ms"]["p95"] is not None
            and run_rows["TTFT"]["p95_ms"] is not None  # workers report every 3 s
        ):
            return dict(live)
        time.sleep(0.5)
    raise AssertionError("no LLM numbers in the web UI within 60 s")


def _csv_names(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


@dataclass(frozen=True)
class UiRun:
    """What a `loadgen ui --autostart` run served while it ran, and the files it left."""

    live: dict[str, Any]  # /loadgen/stats once it had LLM numbers
    stats: dict[str, Any]  # /stats/requests right after
    llm_csv: str  # /loadgen/stats/csv
    page: str  # /
    results: Path
    log: Path


def _ui_run(tmp: Path, port: int, sim_url: str, processes: str | None) -> UiRun:
    base = f"http://127.0.0.1:{port}"
    cmd = loadgen_cmd("ui", "--host", sim_url, "--users", "2", "--web-port", str(port))
    cmd += ["--autostart", "--run-time", "8s", "--output-tokens", "8", "--progress", "off"]
    cmd += ["--results", str(tmp / "r")] + (["--processes", processes] if processes else [])
    log = tmp / "ui.log"
    with running(cmd, log=log, timeout_s=60) as proc:
        live = _wait_for_llm_numbers(base, proc)
        stats = _get_json(base + "/stats/requests")
        llm_csv = urllib.request.urlopen(base + "/loadgen/stats/csv", timeout=5).read().decode()
        page = urllib.request.urlopen(base + "/", timeout=5).read().decode()
        proc.wait(60)  # --run-time, then --autoquit: it ends by itself
    stop(proc)
    return UiRun(live, stats, llm_csv, page, tmp / "r", log)


UI_PROCESSES = (None, "2")  # one Locust process, or a master and two workers


@pytest.fixture(scope="module")
def ui_runs(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> dict[str | None, UiRun]:
    """Both UI runs side by side against the module's simulator, each on its own web port: the
    test checks what each served and wrote, which holds at any load."""
    where = {p: (tmp_path_factory.mktemp("ui"), free_port()) for p in UI_PROCESSES}

    def run(processes: str | None) -> UiRun:
        return _ui_run(*where[processes], sim_url, processes)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(UI_PROCESSES, pool.map(run, UI_PROCESSES), strict=True))


@pytest.mark.parametrize("processes", UI_PROCESSES, ids=["local", "two-workers"])
def test_web_ui_shows_llm_numbers(ui_runs: dict[str | None, UiRun], processes: str | None) -> None:
    ui = ui_runs[processes]
    live, stats = ui.live, ui.stats
    assert live["output_tok_s"] > 0 and live["itl_ms"]["p50"] is not None
    extended = {table["key"]: table["data"] for table in stats["extended_stats"]}
    rows = {row["metric"]: row for row in extended["llm"]}
    assert rows["TTFT ms"]["p95"] is not None and rows["output tok/s"]["value"] > 0
    run_rows = {row["name"]: row for row in extended["llm_stats"]}
    assert run_rows["TTFT"]["p95_ms"] is not None and run_rows["ITL"]["count"] > 0
    # Locust's own entries: one per request name, so its total RPS is the chat RPS
    chat, total = stats["stats"]
    assert (chat["name"], total["name"]) == ("chat", "Aggregated")
    assert total["num_requests"] == chat["num_requests"] > 0
    assert stats["total_rps"] == chat["total_rps"]
    names = [line.split(",")[1] for line in ui.llm_csv.splitlines()]
    assert names == ["Name", "TTFT", "ITL", "TPOT"]
    assert "extended_tabs" in ui.page and "extended_csv_files" in ui.page
    results = ui.results
    assert (results / "summary.json").is_file(), ui.log.read_text()[-2000:]
    finished = [r for r in SwarmRun(0, "", "", results).records() if r["error_type"] != "truncated"]
    stats_csv = _csv_names(results / "locust_stats.csv")
    assert list(stats_csv) == ["chat", "Aggregated"]
    assert int(stats_csv["Aggregated"]["Request Count"]) == len(finished)
    ttft_count = int(_csv_names(results / "locust_llm_stats.csv")["TTFT"]["Count"])
    assert ttft_count == sum(r["ok"] for r in finished)
