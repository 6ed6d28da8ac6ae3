"""No user's first request carries another user's start-up, for both transports, by the
simulator's truth file.

128 users start together (--ramp 0) against the vLLM-like profile. Each request's TTFT error is
its client TTFT minus the server's (truth) TTFT: what the client's own stamping added. A user's
first request that was stamped and then waited while the users after it built their clients
carried one build per later user (the openai SDK's took 23 ms each): the first requests' error
then falls with their send order, by about one build per user (-23 ms per seq). The bound is on
that slope, fitted over the 128 first requests: above -2 ms per user. A burst's own queueing
(the simulator admits 128 prompts at once, the first wave also opens 128 connections) raises
every first request's error alike, or the later-sent ones a little: neither is a negative slope.
A bound on stamping error, not on speed.
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
# The old stamping: about -23 ms per user (one SDK client build per later user)
MAX_FALL_MS_PER_USER = -2.0


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
    first: list[tuple[int, float]] = []  # (seq, error ms) of each user's first request
    later_ms: list[float] = []
    for record in records:
        row = truth.rows.get(request_id(record["worker"], record["seq"]))
        if row is None or not record["ok"] or row["first_token_mono_ns"] is None:
            continue
        client_ttft_ns = record["t_first_ns"] - record["t_send_ns"]
        truth_ttft_ns = row["first_token_mono_ns"] - row["arrival_mono_ns"]
        error_ms = (client_ttft_ns - truth_ttft_ns) / 1e6
        # one worker, every user sends at once: its first USERS seqs are the users' first requests
        if record["seq"] < USERS:
            first.append((record["seq"], error_ms))
        else:
            later_ms.append(error_ms)
    assert len(first) == USERS, "every user's first request is answered and on file"
    assert later_ms, "later requests to compare with"
    seqs, first_ms = [float(seq) for seq, _ in first], [ms for _, ms in first]
    slope_ms = statistics.linear_regression(seqs, first_ms).slope
    figures = f"first requests' error {slope_ms:+.2f} ms per user in send order, p50"
    figures += f" {statistics.median(first_ms):.1f} (max {max(first_ms):.1f}) ms; later p50"
    figures += f" {statistics.median(later_ms):.1f} (max {max(later_ms):.1f}) ms"
    print(figures)  # shown with -s
    assert slope_ms > MAX_FALL_MS_PER_USER, figures
