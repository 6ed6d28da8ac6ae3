"""No user's first request carries another user's start-up, for both transports, by the
simulator's truth file.

128 users start together (--ramp 0) against the vLLM-like profile, so every wave of requests is
a burst of 128, the first as the later ones. Each request's TTFT error is its client TTFT minus
the server's (truth) TTFT: what the client's own stamping added. A user's first request that
waited, stamped, while the users after it built their clients carried up to 127 of those
builds (the openai SDK's took 23 ms each: 1.5 s for the median user at 128). The bound is the
run's own: the first requests' median error stays within 5x the later requests' median. A first
wave does all a later wave does plus one TCP connect per user, which cost up to 2.7x here on a
loaded 2-core machine; 127 builds of 23 ms cost 15x to 100x. A bound on stamping error, not on
speed: a loaded machine raises both medians together.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from loadgen.swarm.exchange import request_id
from tests.fixtures.sim import SimFactory
from tests.fixtures.swarm import run_swarm
from tests.fixtures.truth_match import Truth, match_records

USERS = 128
# Input kept short: the burst's prefill (128 prompts in one step) is then 0.3 s at this scale.
WORKLOAD = ("--input-tokens", "16", "--output-tokens", "8", "--ignore-eos")


@pytest.mark.parametrize("client", ["fast", "openai"])
def test_first_requests_carry_no_start_up(
    client: str, sim_server: SimFactory, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.jsonl"
    with sim_server("vllm-4090-llama8b", "--truth", str(truth_path), "--time-scale", "0.5") as sim:
        run = run_swarm(
            tmp_path / "run", "--host", sim.url, "--client", client, "--users", str(USERS),
            "--run-time", "3s", "--ramp", "0", *WORKLOAD,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    records, truth = run.records(), Truth.read(truth_path)
    match_records(records, truth)
    first_ms: list[float] = []
    later_ms: list[float] = []
    for record in records:
        row = truth.rows.get(request_id(record["worker"], record["seq"]))
        if row is None or not record["ok"] or row["first_token_mono_ns"] is None:
            continue
        client_ttft_ns = record["t_first_ns"] - record["t_send_ns"]
        truth_ttft_ns = row["first_token_mono_ns"] - row["arrival_mono_ns"]
        # one worker, every user sends at once: its first USERS seqs are the users' first requests
        (first_ms if record["seq"] < USERS else later_ms).append(
            (client_ttft_ns - truth_ttft_ns) / 1e6
        )
    assert len(first_ms) == USERS, "every user's first request is answered and on file"
    assert later_ms, "later requests to compare with"
    first_p50_ms, later_p50_ms = statistics.median(first_ms), statistics.median(later_ms)
    figures = f"error p50 (max): first {first_p50_ms:.1f} ({max(first_ms):.1f}) ms"
    figures += f", later {later_p50_ms:.1f} ({max(later_ms):.1f}) ms"
    assert first_p50_ms <= 5 * later_p50_ms, figures
