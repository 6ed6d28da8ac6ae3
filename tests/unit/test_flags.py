"""One flag table (loadgen/flags.py) behind click's `swarm`/`ui` and loadgen's Locust parser.

The Locust side is driven through a configargparse parser that takes Locust's extra keywords,
so no locust (and no gevent monkey-patching) is imported here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import configargparse
import pytest

from loadgen.cli.swarm import check_inputs, locust_argv, swarm
from loadgen.cli.ui import ui
from loadgen.errors import LoadgenError
from loadgen.flags import (
    FLAG,
    FLAGS,
    LOCUST,
    SWARM,
    UI,
    Flag,
    duration_text,
    env_name,
    flags_of,
    markdown,
    parse_duration_s,
)
from loadgen.run.health import HealthBook
from loadgen.run.target import TargetInfo
from loadgen.swarm.options import SwarmSettings, add_arguments
from tests.fixtures.flag_values import within_range

COMMANDS: dict[str, click.Command] = {SWARM: swarm, UI: ui}
INFO = TargetInfo("http://127.0.0.1:9", "openai", "m", "sim", {"version": "1"})


class LocustLikeParser(configargparse.ArgumentParser):
    """Takes the keywords Locust's parser adds to argparse's (include_in_web_ui, is_secret)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        web_ui, secret = kwargs.pop("include_in_web_ui", True), kwargs.pop("is_secret", False)
        action = super().add_argument(*args, **kwargs)
        action.include_in_web_ui, action.is_secret = web_ui, secret
        return action


def locust_parser() -> LocustLikeParser:
    parser = LocustLikeParser(add_help=False)
    add_arguments(parser)
    return parser


@pytest.fixture(autouse=True)
def _no_flag_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in FLAGS:
        monkeypatch.delenv(flag.env_var, raising=False)


def click_values(command: str, args: list[str]) -> dict[str, Any]:
    ctx = COMMANDS[command].make_context(command, list(args))  # click consumes its list
    return dict(ctx.params)


def click_params(command: str) -> dict[str, click.Option]:
    params = COMMANDS[command].params
    return {p.opts[0]: p for p in params if isinstance(p, click.Option) and p.name != "help"}


@pytest.mark.parametrize("command", [SWARM, UI])
def test_click_options_are_the_tables_flags(command: str) -> None:
    params = click_params(command)
    assert list(params) == [f.option for f in flags_of(command)]  # same flags, table order
    values = click_values(command, [])
    for flag in flags_of(command):
        assert params[flag.option].envvar == flag.env_var, flag.name
        assert values[flag.dest] == flag.default, flag.name


def test_locust_arguments_are_the_tables_flags() -> None:
    parser = locust_parser()
    actions = {a.option_strings[0]: a for a in parser._actions}
    assert list(actions) == [f.option for f in flags_of(LOCUST)]
    defaults = vars(parser.parse_args([]))
    for flag in flags_of(LOCUST):
        action = actions[flag.option]
        assert (action.dest, action.env_var, defaults[flag.dest]) == (
            flag.dest,
            flag.env_var,
            flag.default,
        ), flag.name
        assert (action.include_in_web_ui, action.is_secret) == (flag.web_ui, flag.secret)


def _shared() -> list[Flag]:
    return [f for f in FLAGS if LOCUST in f.commands and f.commands & {SWARM, UI}]


@pytest.mark.parametrize("flag", _shared(), ids=lambda f: f.name)
def test_click_and_locust_agree_on_defaults_env_and_values(flag: Flag) -> None:
    command = SWARM if SWARM in flag.commands else UI
    assert click_params(command)[flag.option].envvar == locust_env(flag.option)
    assert click_values(command, [])[flag.dest] == vars(locust_parser().parse_args([]))[flag.dest]
    samples = {"duration": "2m", "int": "3", "float": "2.5"}
    text = flag.choices[-1] if flag.choices else within_range(flag, samples.get(flag.kind, "x"))
    args = [flag.option] if flag.kind == "switch" else [flag.option, text]
    from_click = click_values(command, args)[flag.dest]
    assert from_click == vars(locust_parser().parse_args(args))[flag.dest]
    assert from_click == (True if flag.kind == "switch" else flag.parse(text))


def locust_env(option: str) -> str:
    return next(a.env_var for a in locust_parser()._actions if option in a.option_strings)


@pytest.mark.parametrize("flag", [f for f in FLAGS if f.min is not None], ids=lambda f: f.name)
def test_every_side_enforces_the_tables_minimum(
    flag: Flag, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flag.min is not None
    low = flag.min if flag.min_open else flag.min - 1
    if flag.kind == "duration" and low < 0:  # a negative duration cannot even be written
        low = flag.min / 2 if flag.min > 0 else -1
        if low < 0:
            return
    text = flag.text(low)
    with pytest.raises(LoadgenError, match=f"{flag.option} must be"):
        flag.parse(text)
    for command in sorted(flag.commands & {SWARM, UI}):
        with pytest.raises(click.BadParameter):
            click_values(command, [flag.option, text])
    if LOCUST in flag.commands:
        with pytest.raises(SystemExit):
            locust_parser().parse_args([flag.option, text])
        assert f"{flag.option} must be" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.002, "2ms"), (0.0255, "25.5ms"), (0.0005, "0.5ms"), (0.1, "100ms"), (1.0, "1s"),
     (60.0, "60s"), (600.0, "600s"), (0.0, "0s")],
)  # fmt: skip
def test_durations_show_as_they_are_typed_and_read_back(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
    assert parse_duration_s(text) == pytest.approx(seconds)


def test_a_duration_out_of_range_is_told_in_its_units() -> None:
    with pytest.raises(LoadgenError) as caught:
        FLAG["itl-resolution"].parse("0")
    assert str(caught.value) == "--itl-resolution must be between 1ms and 50ms, got 0s"
    assert "| 2ms | 1ms..50ms |" in markdown()


def test_env_names_are_derived_once_with_declared_exceptions() -> None:
    assert FLAG["think-time"].env_var == env_name("think-time") == "LOADGEN_THINK_TIME"
    assert FLAG["api-key"].env_var == "OPENAI_API_KEY"
    assert FLAG["influx-url"].env_var == "INFLUX_URL"
    declared = {f.name for f in FLAGS if f.env}
    assert declared == {"api-key"} | {f.name for f in FLAGS if f.name.startswith("influx-")}
    assert len({f.env_var for f in FLAGS}) == len(FLAGS)


def test_the_saturation_defaults_are_the_health_books() -> None:
    book = HealthBook()
    assert FLAG["saturation-cpu-pct"].default == book.cpu_threshold_pct
    assert FLAG["saturation-intervals"].default == book.sustained_intervals


def test_the_child_command_line_parses_back_to_the_same_values(tmp_path: Path) -> None:
    args = ["--host", "http://h:1", "--users", "1,10", "--step-time", "1m", "--think-time", "2s"]
    args += ["--temperature", "0.5", "--ignore-eos", "--results", str(tmp_path)]
    args += ["--itl-resolution", "3ms"]
    opts = click_values(SWARM, [*args, "--api-key", "sk-secret", "--saturation-cpu-pct", "80"])
    argv = locust_argv(opts, check_inputs(opts), INFO, headless=True)
    assert "sk-secret" not in argv
    parsed, _ = locust_parser().parse_known_args(argv[3:])
    settings = SwarmSettings.from_options(parsed)
    assert (settings.think_time_s, settings.temperature, settings.ignore_eos) == (2.0, 0.5, True)
    assert (parsed.levels, parsed.step_time, parsed.saturation_cpu_pct) == ("1,10", 60.0, 80.0)
    assert (settings.api, settings.model, settings.api_key) == ("openai", "m", "")
    assert settings.itl_resolution_s == pytest.approx(0.003)


def test_plain_locust_defaults_give_the_swarms_settings() -> None:
    settings = SwarmSettings.from_options(locust_parser().parse_args([]))
    assert settings.temperature is None and settings.rate_per_s == 0.0
    assert (settings.request_timeout_s, settings.model, settings.dataset) == (600.0, "", "")


def test_docs_list_every_flag_as_the_table_does() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "swarm.md").read_text()
    listed = docs.split("<!-- flags:begin (python -m loadgen.flags) -->\n")[1]
    assert listed.split("\n<!-- flags:end -->")[0] == markdown()  # else: python -m loadgen.flags


def test_cli_and_pure_modules_import_no_locust_or_gevent() -> None:
    code = (
        "import sys, loadgen.cli.swarm, loadgen.cli.ui, loadgen.swarm.options, loadgen.flags\n"
        "assert not {'locust', 'gevent'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
