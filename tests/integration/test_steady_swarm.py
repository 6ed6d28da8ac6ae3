"""Steady windows and auto levels as a user runs them: real `loadgen swarm` on the simulator.

Auto levels (the default) end once their steady window holds --min-requests and 3 median E2Es,
well before a small --max-step-time; a level too short to settle is flagged in the table, in
InfluxDB (an `llm_event` annotation) and, with --require-steady, in the exit code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadgen.results import read_summary
from tests.fixtures.influx import Influxd
from tests.fixtures.swarm import run_swarm

NS_PER_S = 1_000_000_000
MAX_STEP_S = 40


@pytest.mark.slow
def test_auto_levels_end_once_their_steady_window_holds_enough(tmp_path: Path) -> None:
    run = run_swarm(
        tmp_path / "run",
        *("--sim", "fast", "--users", "1,2", "--min-requests", "30", "--output-tokens", "16"),
        *("--max-step-time", f"{MAX_STEP_S}s", "--interval", "0.5s"),
    )
    assert run.returncode == 0, run.stderr
    summary = read_summary(run.results)
    assert [lv.users for lv in summary.levels] == [1, 2]
    for level, stage in zip(summary.levels, summary.stages, strict=True):
        assert level.steady is True, level.steady_reason
        assert level.steady_reason.startswith("settled over 3 intervals of 0.5 s")
        assert level.window_start_unix_ns == level.steady_start_unix_ns
        assert level.requests - level.errors >= 30
        assert level.e2e_p50_ms is not None
        assert level.window_s >= 3 * level.e2e_p50_ms / 1000
        assert stage.end_unix_ns is not None
        assert (stage.end_unix_ns - stage.start_unix_ns) / NS_PER_S < MAX_STEP_S  # not the cap
    header, *rows = run.stdout.splitlines()[:3]
    assert header.split()[-1] == "steady" and all(r.split()[-1] == "yes" for r in rows)


@pytest.mark.slow
def test_a_level_that_never_settles_fails_with_require_steady(
    influxd: tuple[Influxd, str], tmp_path: Path
) -> None:
    server, db = influxd
    run = run_swarm(
        tmp_path / "run",
        *("--sim", "fast", "--users", "1,2", "--step-time", "2s", "--interval", "1s"),
        *("--output-tokens", "16", "--require-steady"),
        *("--influx-url", server.url, "--influx-db", db),
    )
    assert run.returncode == 1, run.stderr
    reason = r"not settled: [12] interval\(s\) of 1 s to judge, 3 needed"  # 2 s: too short
    for index, users in ((0, 1), (1, 2)):
        where = rf"level {index} \({users} users\)"
        line = rf"loadgen: {where} never settled: {reason}; see --require-steady"
        assert re.search(f"^{line}$", run.stderr, re.MULTILINE), run.stderr
        assert re.search(f"^{where} not steady: {reason}$", run.stdout, re.MULTILINE)
    assert all(lv.steady is False for lv in read_summary(run.results).levels)
    rows = server.rows(db, 'SELECT "text" FROM llm_event WHERE "kind" = \'level_unsteady\'')
    assert sorted(str(r["text"]).split(" NOT ")[0] for r in rows) == [
        "level 0: 1 users",
        "level 1: 2 users",
    ]
