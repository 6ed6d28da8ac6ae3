"""Error answers through both clients, for real: `loadgen swarm` against the simulator's faults.

Every error record carries its HTTP status, and a 429 or 503 with Retry-After makes the user
wait that long before its next request (recorded as retry_after_s, then retry_wait_s); one
without (Ollama's "server busy") makes it back off as the OpenAI client does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.swarm import SwarmRun, run_swarm

CLIENTS = ("fast", "openai")
FAULTS = {"http500=1": 500, "busy503=1:0.2s": 503}  # every answer an error, of this status


def one_user(client: str, run_time: str, faults: str) -> tuple[str, ...]:
    return ("--users", "1", "--run-time", run_time, "--client", client, "--sim-faults", faults)


def side_by_side(tmp: Path, runs: dict[str, tuple[str, ...]]) -> dict[str, SwarmRun]:
    """`loadgen swarm --sim fast ARGS` for each name, two at a time, each with its own simulator:
    the tests check each run's own records, which hold at any load."""

    def run(name: str) -> SwarmRun:
        return run_swarm(tmp / name, "--sim", "fast", *runs[name])

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(runs, pool.map(run, runs), strict=True))


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SwarmRun]:
    runs = {f"{c}-{f}": one_user(c, "1s", f) for c in CLIENTS for f in FAULTS}
    return side_by_side(tmp_path_factory.mktemp("errors"), runs)


@pytest.fixture(scope="module")
def retry_after_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SwarmRun]:
    runs = {c: one_user(c, "5s", "rate429=1:2s") for c in CLIENTS}
    return side_by_side(tmp_path_factory.mktemp("retry-after"), runs)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("fault", "status"), list(FAULTS.items()))
def test_every_error_record_has_its_http_status(
    error_runs: dict[str, SwarmRun], client: str, fault: str, status: int
) -> None:
    run = error_runs[f"{client}-{fault}"]
    records = run.records()
    answered = [r for r in records if r["error_type"] == "http_status"]
    assert answered, run.stderr
    assert len(records) - len(answered) <= 1  # the request the run's end cut off
    assert {r["http_status"] for r in answered} == {status}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_user_waits_out_retry_after(retry_after_runs: dict[str, SwarmRun], client: str) -> None:
    run = retry_after_runs[client]
    records = sorted(run.records(), key=lambda r: r["seq"])
    # about 3 requests (at 0, 2 and 4 s), not thousands
    assert 1 <= len(records) <= 5, run.stderr
    records = [r for r in records if r["error_type"] == "http_status"]  # none cut off
    assert {r["http_status"] for r in records} == {429}
    assert {r["retry_after_s"] for r in records} == {2.0}
    assert records[0]["retry_wait_s"] is None
    assert {r["retry_wait_s"] for r in records[1:]} <= {2.0}


# Ollama-like: one slot and one queue place, so a third user is refused with 503 "server busy"
# and no Retry-After; a request holds its slot for about 0.4 s.
ONE_SLOT_PROFILE = """\
engine = "ollama"
scheduler = "fifo"
model = "one-slot"
max_running = 1
max_queue = 1
step_base_ms = 25.0
"""


def test_a_refused_user_backs_off_without_retry_after(tmp_path: Path) -> None:
    profile = tmp_path / "one-slot.toml"
    profile.write_text(ONE_SLOT_PROFILE)
    args = ("--users", "3", "--run-time", "4s", "--output-tokens", "16", "--ignore-eos")
    run = run_swarm(tmp_path / "run", "--sim", str(profile), *args, "--max-error-rate", "1")
    records = run.records()
    refused = [r for r in records if r["http_status"] == 503]
    assert refused, run.stderr  # the queue was full at times
    assert all(r["retry_after_s"] is None for r in refused)  # nothing asked
    # waits of 0.5 s and more: a handful of refusals in 4 s, where no back-off gave thousands
    assert len(refused) <= 3 * 8
    waits = [r["retry_wait_s"] for r in records if r["retry_wait_s"] is not None]
    assert waits and all(0.375 <= w <= 8.0 for w in waits)
