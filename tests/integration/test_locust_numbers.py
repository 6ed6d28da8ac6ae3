"""Locust's own numbers stay true: one chat request is one Locust request, in one process or
over workers; TTFT, ITL and TPOT are loadgen's LLM stats beside them (locust_llm_stats.csv),
merged over workers. Real `loadgen swarm` runs against the simulator.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loadgen import timing
from loadgen.records import RequestRecord
from tests.fixtures.swarm import SwarmRun, run_swarm

RUN = ("--sim", "fast", "--users", "3", "--run-time", "4s", "--output-tokens", "16")
PROCESSES = (None, "2")  # one Locust process, or a master and two workers


def _rows_by_name(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    names = [row["Name"] for row in rows]
    assert len(names) == len(set(names)), f"{path.name}: a name on two rows: {names}"
    return {row["Name"]: row for row in rows}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, SwarmRun]:
    """The local run and the run over two workers, side by side (each with its own simulator):
    what the test checks are counts, which hold at any load."""
    tmp = tmp_path_factory.mktemp("locust-numbers")

    def run(processes: str | None) -> SwarmRun:
        args = [*RUN, "--processes", processes] if processes else [*RUN]
        return run_swarm(tmp / str(processes), *args)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(PROCESSES, pool.map(run, PROCESSES), strict=True))


@pytest.mark.parametrize("processes", PROCESSES, ids=["local", "two-workers"])
def test_one_locust_request_per_chat_request(
    runs: dict[str | None, SwarmRun], processes: str | None
) -> None:
    run = runs[processes]
    assert run.returncode == 0, run.stderr[-2000:]
    # requests cut off by the end of the run are on record, but were never Locust requests
    finished = [RequestRecord.from_dict(r) for r in run.records() if r["error_type"] != "truncated"]
    assert finished

    stats = _rows_by_name(run.results / "locust_stats.csv")
    assert list(stats) == ["chat", "Aggregated"]  # no TTFT or TPOT rows
    chat, total = stats["chat"], stats["Aggregated"]
    assert int(total["Request Count"]) == int(chat["Request Count"]) == len(finished)
    assert total["Requests/s"] == chat["Requests/s"]
    assert int(chat["Failure Count"]) == sum(not r.ok for r in finished)

    llm = _rows_by_name(run.results / "locust_llm_stats.csv")
    assert list(llm) == ["TTFT", "ITL", "TPOT"]
    ok = [r for r in finished if r.ok]
    assert int(llm["TTFT"]["Count"]) == sum(timing.ttft_ms(r) is not None for r in ok)
    assert int(llm["ITL"]["Count"]) == sum(len(timing.itl_ms(r)) for r in ok)
    assert int(llm["TPOT"]["Count"]) == sum(timing.tpot_ms(r) is not None for r in ok)
    ttft_ms = sorted(v for r in ok if (v := timing.ttft_ms(r)) is not None)
    assert float(llm["TTFT"]["Min (ms)"]) == pytest.approx(ttft_ms[0], abs=1e-3)
    assert float(llm["TTFT"]["Max (ms)"]) == pytest.approx(ttft_ms[-1], abs=1e-3)
    assert llm["TTFT"]["95%"] != "N/A" and llm["ITL"]["99%"] != "N/A"
