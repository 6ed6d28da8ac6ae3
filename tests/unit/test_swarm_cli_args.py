"""How `loadgen swarm` turns its flags into the Locust child's command line: pure, no processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadgen.cli.swarm import check_inputs, child_env, locust_argv, swarm
from loadgen.errors import LoadgenError
from loadgen.run.target import TargetInfo

INFO = TargetInfo("http://127.0.0.1:9", "openai", "m", "sim", {"version": "1"})


def opts(**overrides: Any) -> dict[str, Any]:
    """Every option at its click default, as the command receives them."""
    ctx = swarm.make_context("swarm", ["--host", "http://127.0.0.1:9"], resilient_parsing=True)
    values = dict(ctx.params)
    values.update(overrides)
    return values


def test_steps_and_durations_reach_locust_in_seconds(tmp_path: Path) -> None:
    o = opts(users="1,10", step_time="1m", warmup="5s", think_time="2s", results=str(tmp_path))
    spec = check_inputs(o)
    argv = locust_argv(o, spec, INFO, headless=True)
    joined = " ".join(argv)
    assert "--levels 1,10" in joined and "--step-time 60.0" in joined
    assert "--warmup 5.0" in joined and "--think-time 2.0" in joined
    assert "shapefile.py" in joined and f"--csv {tmp_path}/locust" in joined


def test_single_level_uses_run_time_and_open_loop_uses_max_concurrency() -> None:
    spec = check_inputs(opts(users="5", run_time="30s"))
    assert spec.plan.users == (5,) and spec.plan.step_time_s == 30
    spec = check_inputs(opts(rate=4.0, max_concurrency=16))
    assert spec.plan.users == (16,) and spec.rate == 4.0


def test_one_level_takes_its_length_from_step_time_too() -> None:
    spec = check_inputs(opts(users="5", step_time="20s"))
    assert spec.plan.users == (5,) and spec.plan.step_time_s == 20 and not spec.plan.auto


def test_the_api_key_travels_only_in_the_environment() -> None:
    o = opts(api_key="sk-secret")
    spec = check_inputs(o)
    assert "sk-secret" not in " ".join(locust_argv(o, spec, INFO, headless=True))
    env = child_env(o, spec)
    assert env["OPENAI_API_KEY"] == "sk-secret"
    assert "sk-secret" not in env["LOADGEN_COMMAND_ARGV"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"users": "5,5"}, "consecutive levels must differ"),
        ({"max_concurrency": 4}, "--max-concurrency only applies with --rate"),
        ({"rate": -1.0}, "--rate must be above 0"),
        ({"stall_timeout": "0s"}, "--stall-timeout must be longer than 0s"),
        ({"sim": "fast"}, "either --host or --sim"),
        ({"users": "1,4", "run_time": "30s"}, "with a --users list give --step-time"),
        ({"users": "4", "run_time": "30s", "step_time": "20s"}, "--run-time or --step-time"),
    ],
)
def test_bad_combinations(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(LoadgenError, match=message):
        check_inputs(opts(**overrides))
