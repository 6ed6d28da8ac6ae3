"""Where the TTFT goes, per level: loadgen's server-side breakdown from the simulator's /metrics
against the simulator's own truth, with a Locust master and workers; and engines whose /metrics
is absent or garbage. Real processes on loopback; no assertion on how fast anything ran."""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadgen.level_summary import LevelSummary
from loadgen.sim.metrics import REQUEST_LATENCY_BUCKETS_S, TTFT_BUCKETS_S
from loadgen.sim.truth import scrapes_path
from loadgen.stats import nearest_rank
from tests.fixtures.metrics_proxy import metrics_proxy
from tests.fixtures.sim import SimFactory, start_sim
from tests.fixtures.swarm import SwarmRun, run_swarm

PROFILE, SCALE = "vllm-4090-llama8b", 0.25
RUN = (
    *("--users", "2,6", "--step-time", "2s", "--warmup", "0.2s", "--interval", "0.5s"),
    *("--output-tokens", "24", "--ignore-eos"),
)
MS = 1e6  # ns per ms


@dataclass(frozen=True)
class Truth:
    rows: list[dict[str, Any]]
    scrapes: list[dict[str, Any]]  # loadgen's /metrics documents, in order

    @classmethod
    def read(cls, path: Path) -> Truth:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        scrapes = [json.loads(line) for line in scrapes_path(path).read_text().splitlines()]
        return cls(rows, [s for s in scrapes if s["user_agent"].startswith("loadgen/")])

    def rendered_at(self, stamp_unix_ns: int) -> int:
        """perf_counter_ns of the /metrics document loadgen stamped `stamp_unix_ns`: the one
        rendered nearest that stamp (one host, one wall clock). loadgen stamps a scrape at the
        middle of its GET, so the render may fall on either side of it, by a few ms at most;
        its scrapes are 100 ms apart or more."""
        nearest = min(self.scrapes, key=lambda s: abs(s["wall_unix_ns"] - stamp_unix_ns))
        assert abs(nearest["wall_unix_ns"] - stamp_unix_ns) < 50 * MS, (nearest, stamp_unix_ns)
        return int(nearest["mono_ns"])


def _bucket(edges: tuple[float, ...], value_ms: float) -> tuple[float, float]:
    """The bucket (lower, upper] in ms that holds `value_ms`."""
    value_s = value_ms / 1e3
    upper = min((e for e in edges if e >= value_s), default=edges[-1])
    lower = max((e for e in edges if e < value_s), default=0.0)
    return lower * 1e3, upper * 1e3


def _check_level(level: LevelSummary, truth: Truth, records: list[dict[str, Any]]) -> None:
    assert level.breakdown_source == "vllm_metrics"
    start, end = level.server_window_start_unix_ns, level.server_window_end_unix_ns
    assert start is not None and end is not None
    first, last = truth.rendered_at(start), truth.rendered_at(end)

    # TTFT is observed at each request's first token, the rest when it finishes (as vLLM does)
    ttft = [
        (r["first_token_mono_ns"] - r["arrival_mono_ns"]) / MS
        for r in truth.rows
        if r["first_token_mono_ns"] is not None and first < r["first_token_mono_ns"] < last
    ]
    done = [r for r in truth.rows if r["finished_mono_ns"] and first < r["finished_mono_ns"] < last]
    assert len(done) >= 5 and level.server_requests == len(done)
    exact = {
        "server_ttft_mean_ms": statistics.fmean(ttft),
        "queue_mean_ms": statistics.fmean(r["queue_wait_ns"] / MS for r in done),
        "prefill_mean_ms": statistics.fmean(r["prefill_ns"] / MS for r in done),
        "decode_mean_ms": statistics.fmean(r["decode_ns"] / MS for r in done),
        "server_e2e_mean_ms": statistics.fmean(r["e2e_ns"] / MS for r in done),
    }
    for name, want in exact.items():
        assert getattr(level, name) == pytest.approx(want, rel=1e-9, abs=1e-6), name

    e2e = sorted(r["e2e_ns"] / MS for r in done)
    for pct, got in (
        (50, level.server_ttft_p50_bucketed_ms),
        (95, level.server_ttft_p95_bucketed_ms),
    ):
        true = nearest_rank(sorted(ttft), pct)
        assert got is not None and true is not None
        lower, upper = _bucket(TTFT_BUCKETS_S, true)
        assert lower <= got <= upper, (pct, got, true)
    true = nearest_rank(e2e, 95)
    assert true is not None and level.server_e2e_p95_bucketed_ms is not None
    lower, upper = _bucket(REQUEST_LATENCY_BUCKETS_S, true)
    assert lower <= level.server_e2e_p95_bucketed_ms <= upper

    # the client's share: its TTFT mean over the requests whose first token it read between the
    # scrapes (those vLLM's TTFT histogram counted, the ones the run's end cut off after their
    # first token included), minus the server's
    client_ttft = [
        (r["t_first_ns"] - r["t_send_ns"]) / MS
        for r in records
        if r["t_first_ns"] is not None
        and start <= r["wall_send_unix_ns"] + r["t_first_ns"] - r["t_send_ns"] < end
    ]
    assert level.client_overhead_ms == pytest.approx(
        statistics.fmean(client_ttft) - exact["server_ttft_mean_ms"]
    )
    assert level.preemptions == 0 and level.prefix_cache_hit_rate is None
    assert level.kv_cache_usage_peak_ratio is not None and 0 < level.kv_cache_usage_peak_ratio < 1


def test_breakdown_means_equal_the_simulators_truth_with_workers(
    sim_server: SimFactory, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.jsonl"
    with sim_server(PROFILE, "--truth", str(truth_path), "--time-scale", str(SCALE)) as sim:
        run = run_swarm(tmp_path / "run", "--host", sim.url, "--processes", "2", *RUN)
    assert run.returncode == 0, run.stderr
    truth = Truth.read(truth_path)
    assert len({s["user_agent"] for s in truth.scrapes}) == 1  # one process scraped: the master
    levels = run.summary().levels
    assert [lv.users for lv in levels] == [2, 6]
    for level in levels:
        _check_level(level, truth, run.records())
    data = json.loads((run.results / "summary.json").read_text())
    assert data["levels"][1]["queue_p95_bucketed_ms"] is not None
    assert "queue ms" in run.stdout and "TTFT breakdown, means" in run.stdout


# /metrics of an engine without vLLM's metrics: (status, body) and whether loadgen warns of it
NO_METRICS = {
    "absent": (404, "404 page not found", False),
    "garbage": (200, "<html><body>hello</body></html>", True),
}


@pytest.fixture(scope="module")
def without_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SwarmRun]:
    """A run against each engine of NO_METRICS (a simulator behind its own /metrics proxy), side
    by side: the test checks what each run's summary and messages say, which holds at any load."""
    tmp = tmp_path_factory.mktemp("no-metrics")

    def run(name: str) -> SwarmRun:
        status, body, _ = NO_METRICS[name]
        with start_sim("fast", log_dir=tmp) as sim, metrics_proxy(sim.url, status, body) as url:
            return run_swarm(
                tmp / name, "--host", url, "--users", "1", "--step-time", "1.5s",
                "--warmup", "0.2s", "--interval", "0.5s", "--output-tokens", "8",
            )  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(NO_METRICS, pool.map(run, NO_METRICS), strict=True))


@pytest.mark.parametrize("name", list(NO_METRICS))
def test_an_engine_without_vllm_metrics_leaves_the_breakdown_empty(
    without_metrics: dict[str, SwarmRun], name: str
) -> None:
    run, warned = without_metrics[name], NO_METRICS[name][2]
    assert run.returncode == 0, run.stderr
    (level,) = run.summary().levels
    assert level.requests > 0 and level.breakdown_source == ""
    assert level.server_ttft_mean_ms is None and level.client_overhead_ms is None
    assert "queue ms" not in run.stdout
    lines = [line for line in run.stderr.splitlines() if "/metrics" in line]
    assert len(lines) == (1 if warned else 0), run.stderr
    if warned:
        assert "not Prometheus text" in lines[0] and "Traceback" not in run.stderr
