"""Token-count honesty against the simulator: one chunk per token gives no mismatch; a profile
that batches four tokens a frame makes every request differ, and the table says so."""

from __future__ import annotations

from pathlib import Path

from loadgen.sim.profiles import PROFILE_DIR
from tests.fixtures.swarm import run_swarm

SHORT = ("--users", "2", "--run-time", "2s", "--warmup", "0s", "--output-tokens", "16")


def test_one_chunk_per_token_gives_no_mismatch(tmp_path: Path) -> None:
    run = run_swarm(tmp_path / "r", "--sim", "fast", "--ignore-eos", *SHORT)
    assert run.returncode == 0, run.stderr
    records = [r for r in run.records() if r["ok"]]
    assert records and all(r["token_frames"] == r["n_out"] == 16 for r in records)
    (level,) = run.summary().levels
    assert level.token_checked_requests == level.requests - level.errors > 0
    assert level.token_mismatch_requests == 0
    assert "token-bearing" not in run.stdout
    fingerprint = run.meta()["fingerprint"]  # gathered before the load (loadgen/run/fingerprint.py)
    assert fingerprint["engine"] == {"name": "sim", "version": "0.1.0", "sim_profile": "fast"}
    assert fingerprint["model"]["max_model_len"] == 32768
    assert fingerprint["workload"]["output_tokens"] == 16 and fingerprint["workload"]["ignore_eos"]
    assert fingerprint["host"]["ram_total_bytes"] > 0


def test_four_tokens_a_frame_differ_on_every_request(tmp_path: Path) -> None:
    fast = (PROFILE_DIR / "fast.toml").read_text()
    profile = tmp_path / "batched.toml"  # top-level keys come before the [gpu] table
    profile.write_text(fast.replace("\n[gpu]", "\ntokens_per_frame = 4\n\n[gpu]", 1))
    run = run_swarm(tmp_path / "r", "--sim", str(profile), "--api", "ollama", *SHORT)
    assert run.returncode == 0, run.stderr
    records = [r for r in run.records() if r["ok"]]
    assert records
    for r in records:  # Ollama's eval_count against frames of up to four tokens
        assert r["n_out_source"] == "eval_count"
        assert r["n_out"] / 4 <= r["token_frames"] < r["n_out"]
    (level,) = run.summary().levels
    assert level.token_mismatch_requests == level.token_checked_requests > 0
    assert f"{level.token_mismatch_requests} of {level.token_checked_requests} requests" in (
        run.stdout
    )
