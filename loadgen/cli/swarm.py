"""`loadgen swarm`: run Locust headless as a child process and gate on SLOs.

This module never imports locust or gevent. It checks every input before any load starts (one
line, exit 2), optionally starts the simulator, probes the target, then runs
`python -m locust -f <packaged locustfile>` with loadgen's options and reads summary.json.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from loadgen.cli.influx_options import influx_options, locust_args, locust_env
from loadgen.cli.influx_options import settings_from_options as influx_settings
from loadgen.cli.scale_out import check_started, generator_gate, master_args
from loadgen.cli.swarm_flags import scale_out_options, sidecar_options
from loadgen.errors import EXIT_OK, EXIT_SLO_BREACH, LoadgenError
from loadgen.run.plan import StepPlan, parse_duration_s, parse_users
from loadgen.run.run_end import RunNotes, finish_results
from loadgen.run.sidecar_link import check_sidecar, running_sidecar
from loadgen.run.sim_launch import profile_engine, simulator
from loadgen.run.target import TargetInfo, probe
from loadgen.sinks.influx_http import preflight
from loadgen.slo import Slo, evaluate, parse_slos
from loadgen.summary import RunSummary, format_table
from loadgen.swarm.options import CLIENTS, DEFAULT_CLIENT
from loadgen.swarm.results import CSV_PREFIX, SUMMARY_FILE, make_run_id, read_json, redact_argv
from loadgen.workload import load_dataset

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "swarm"
LOCUSTFILE = PACKAGE_DIR / "locustfile.py"
SHAPEFILE = PACKAGE_DIR / "shapefile.py"
USER_CLASS = "Chat"
CHILD_GRACE_S = 3.0  # after Ctrl-C: time for Locust to notice it by itself
CHILD_STOP_S = 60.0  # then: time to write its results after SIGTERM


def _env(flag: str) -> str:
    return "LOADGEN_" + flag.upper().replace("-", "_")


def _opt(flag: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option that also reads LOADGEN_<FLAG> (flags > env > defaults)."""
    kwargs.setdefault("envvar", _env(flag))
    kwargs.setdefault("show_default", "default" in kwargs)
    return click.option(f"--{flag}", **kwargs)


# (flag, click kwargs) shared by `swarm` and `ui`; forwarded to Locust when set.
_FORWARDED: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "input-tokens",
        {"type": click.IntRange(min=1), "default": 128, "help": "prompt tokens (mean)"},
    ),
    (
        "input-spread",
        {"type": click.IntRange(min=0), "default": 0, "help": "prompt tokens std dev"},
    ),
    (
        "output-tokens",
        {
            "type": click.IntRange(min=1),
            "default": 128,
            "help": "max_tokens (num_predict for Ollama)",
        },
    ),
    ("ignore-eos", {"is_flag": True, "help": "ask the server to ignore EOS (vLLM, sim)"}),
    ("min-tokens", {"type": click.IntRange(min=0), "default": 0, "help": "min_tokens (0: unset)"}),
    ("temperature", {"type": float, "default": None, "help": "sampling temperature"}),
    (
        "dataset",
        {
            "type": click.Path(dir_okay=False),
            "default": None,
            "help": "JSONL prompts or ShareGPT conversations",
        },
    ),
    ("system-prompt", {"default": None, "help": "system message for every conversation"}),
    ("seed", {"type": int, "default": 0, "help": "seed: prompts, think times, arrivals"}),
    ("turns", {"type": click.IntRange(min=1), "default": 1, "help": "turns per conversation"}),
    ("think-time", {"default": "0s", "help": "pause between turns (e.g. 2s)"}),
    ("request-timeout", {"default": "600s", "help": "whole-request timeout"}),
    ("stall-timeout", {"default": "60s", "help": "max silence mid-stream"}),
    (
        "client",
        {
            "type": click.Choice(CLIENTS),
            "default": DEFAULT_CLIENT,
            "help": "fast (geventhttpclient) or openai (the official SDK)",
        },
    ),
    ("interval", {"default": "5s", "help": "progress/llm_interval period"}),
    (
        "progress",
        {
            "type": click.Choice(["auto", "live", "lines", "off"]),
            "default": "auto",
            "help": "live line on a TTY, one line per interval in CI",
        },
    ),
)
_DURATIONS = {"think-time", "request-timeout", "stall-timeout", "interval"}


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Target, load and workload options of `swarm` and `ui`."""
    decorators = [
        _opt("host", default=None, help="target base URL (also OLLAMA_HOST with --api ollama)"),
        _opt("sim", default=None, help="start `loadgen sim --profile SIM` and target it"),
        _opt(
            "sim-faults",
            default="",
            show_default=False,
            help="faults for --sim (see `loadgen sim --help`)",
        ),
        _opt(
            "sim-truth",
            default=None,
            type=click.Path(dir_okay=False),
            help="--sim: write the simulator's ground-truth JSONL here",
        ),
        _opt(
            "api",
            type=click.Choice(["auto", "openai", "ollama"]),
            default="auto",
            help="wire protocol (auto: probe the server)",
        ),
        _opt("model", default=None, help="model (default: the server's first)"),
        click.option(
            "--api-key",
            envvar="OPENAI_API_KEY",
            default=None,
            help="bearer token (env OPENAI_API_KEY); never printed or stored",
        ),
        _opt("users", default="1", help="users, or levels for steps: 1,10,50"),
        _opt("spawn-rate", type=float, default=None, help="users started per second"),
        _opt("run-time", default="60s", help="run length (one level)"),
        _opt("step-time", default="60s", help="length of each level (several levels)"),
        _opt("warmup", default="0s", help="start of each level excluded from its window"),
        _opt("rate", type=float, default=None, help="open loop: Poisson arrivals per second"),
        _opt(
            "max-concurrency",
            type=click.IntRange(min=1),
            default=None,
            help="open loop: users available to serve arrivals (default 64)",
        ),
        _opt("results", default=None, help="results directory (default results/<run_id>)"),
        _opt("engine", default=None, help="engine label for the results (default: detected)"),
        _opt(
            "processes",
            type=click.IntRange(min=1),
            default=None,
            help="Locust worker processes on this machine",
        ),
        *[_opt(flag, **kw) for flag, kw in _FORWARDED],
    ]
    for decorator in reversed(decorators):
        func = decorator(func)  # type: ignore[assignment,arg-type]
    return func


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything checked before any load starts."""

    plan: StepPlan
    rate: float | None
    slos: list[Slo]
    run_id: str
    results_dir: Path
    influx_args: list[str]  # non-secret --influx-* flags for Locust
    influx_env: dict[str, str]  # INFLUX_TOKEN / INFLUX_PASSWORD for Locust's environment


def duration_opt_s(opts: dict[str, Any], flag: str) -> float:
    return parse_duration_s(str(opts[flag.replace("-", "_")]), f"--{flag}")


def _plan(opts: dict[str, Any]) -> tuple[StepPlan, float | None]:
    levels = parse_users(opts["users"])
    rate = opts["rate"]
    if rate is not None:
        if rate <= 0:
            raise LoadgenError(f"--rate must be above 0, got {rate:g}")
        if len(levels) > 1:
            raise LoadgenError("--rate runs one level: give --max-concurrency, not a --users list")
        levels = (opts["max_concurrency"] or 64,)
    elif opts["max_concurrency"] is not None:
        raise LoadgenError("--max-concurrency only applies with --rate (open loop)")
    if any(a == b for a, b in itertools.pairwise(levels)):
        raise LoadgenError("--users: consecutive levels must differ")
    length = duration_opt_s(opts, "step-time" if len(levels) > 1 else "run-time")
    plan = StepPlan(levels, length, duration_opt_s(opts, "warmup"), opts["spawn_rate"])
    return plan, rate


def check_inputs(opts: dict[str, Any]) -> RunSpec:
    """Validate every flag; raises LoadgenError (exit 2) before any process starts."""
    plan, rate = _plan(opts)
    for flag in _DURATIONS:
        if duration_opt_s(opts, flag) <= 0 and flag != "think-time":
            raise LoadgenError(f"--{flag} must be longer than 0 s")
    if opts["dataset"]:
        load_dataset(opts["dataset"], max_turns=opts["turns"])  # bad file: one line, exit 2
    if opts["sim"] and opts["host"]:
        raise LoadgenError("give either --host or --sim, not both")
    slos = parse_slos(opts.get("slo") or ())
    influx = influx_settings(opts)
    if influx is not None:  # unreachable, bad credentials or database: one line, exit 2
        influx = preflight(influx)
    influx_args = locust_args(influx) if influx is not None else []
    influx_env = locust_env(influx) if influx is not None else {}
    run_id = opts.get("run_id") or make_run_id()
    results_dir = Path(opts["results"] or Path("results") / run_id)
    return RunSpec(plan, rate, slos, run_id, results_dir, influx_args, influx_env)


def _host(opts: dict[str, Any]) -> str:
    host = opts["host"]
    if not host and opts["api"] == "ollama" and os.environ.get("OLLAMA_HOST"):
        host = os.environ["OLLAMA_HOST"]
        host = host if "://" in host else f"http://{host}"
    if not host:
        raise LoadgenError("no target: pass --host http://HOST:PORT or --sim PROFILE")
    return str(host)


@contextlib.contextmanager
def target(opts: dict[str, Any]) -> Iterator[TargetInfo]:
    """The probed target: --host, or a simulator started for this run (always stopped)."""
    with contextlib.ExitStack() as stack:
        sim = None
        if opts["sim"]:
            truth = Path(opts["sim_truth"]) if opts["sim_truth"] else None
            sim = stack.enter_context(
                simulator(opts["sim"], truth, opts["seed"], opts["sim_faults"])
            )
        host = sim.url if sim is not None else _host(opts)
        info = probe(host, opts["api"], opts["model"] or "", opts["api_key"])
        if sim is not None:  # labelled as the engine its profile imitates (docs/swarm.md)
            info = replace(info, engine=profile_engine(opts["sim"]), pid=sim.pid)
        yield info


def _forwarded(opts: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for flag, kwargs in _FORWARDED:
        value = opts[flag.replace("-", "_")]
        if value is None or value == "" or value is False:
            continue
        if kwargs.get("is_flag"):
            argv.append(f"--{flag}")
            continue
        if flag in _DURATIONS:
            value = parse_duration_s(str(value), f"--{flag}")
        argv += [f"--{flag}", str(value)]
    return argv


def locust_argv(opts: dict[str, Any], spec: RunSpec, info: TargetInfo, headless: bool) -> list[str]:
    """The Locust child's command line (no secrets: the API key travels in the environment)."""
    plan = spec.plan
    files = f"{LOCUSTFILE},{SHAPEFILE}" if headless or len(plan.users) > 1 else str(LOCUSTFILE)
    argv = [sys.executable, "-m", "locust", "-f", files, "--host", info.host]
    argv += ["--levels", ",".join(map(str, plan.users)), "--step-time", str(plan.step_time_s)]
    argv += ["--warmup", str(plan.warmup_s), "--step-spawn-rate", str(plan.spawn_rate or 0)]
    argv += ["--api", info.api, "--model", info.model, "--engine", opts["engine"] or info.engine]
    argv += ["--run-id", spec.run_id, "--results", str(spec.results_dir)]
    argv += ["--csv", str(spec.results_dir / CSV_PREFIX), "--skip-log-setup"]
    if spec.rate is not None:
        argv += ["--rate", str(spec.rate)]
    if opts["processes"]:
        argv += ["--processes", str(opts["processes"])]
    return [*argv, *spec.influx_args, *_forwarded(opts)]


def child_env(opts: dict[str, Any], spec: RunSpec) -> dict[str, str]:
    """Locust's environment: secrets travel here, never on its command line."""
    env = {**os.environ, **spec.influx_env, "LOADGEN_CHILD": "1"}
    env["LOADGEN_COMMAND_ARGV"] = json.dumps(redact_argv(["loadgen", *sys.argv[1:]]))
    env.pop("OPENAI_API_KEY", None)
    if opts["api_key"]:
        env["OPENAI_API_KEY"] = opts["api_key"]
    return env


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def run_child(argv: list[str], env: dict[str, str]) -> bool:
    """Run Locust to its end; False if interrupted.

    Ctrl-C reaches Locust too (same process group) and it saves its results; a SIGTERM or
    SIGINT sent to this process alone is passed on as SIGTERM, which Locust also handles.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen(argv, env=env)
    try:
        proc.wait()
        return True
    except KeyboardInterrupt:
        try:
            proc.wait(CHILD_GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(CHILD_STOP_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        return False


def gate(results_dir: Path, slos: list[Slo]) -> int:
    """Print the per-level table and every SLO breach; the exit code."""
    path = results_dir / SUMMARY_FILE
    if not path.is_file():
        raise LoadgenError(f"the run wrote no {path}; see the Locust output above")
    summary = RunSummary.from_dict(read_json(path))
    click.echo(format_table(summary))
    click.echo(f"results: {results_dir}")
    if not summary.levels:
        click.echo(
            "loadgen: no level had a steady window; run longer or shorten --warmup", err=True
        )
        return EXIT_SLO_BREACH if slos else EXIT_OK
    breaches = evaluate(slos, summary.levels)
    for line in breaches:
        click.echo(line, err=True)
    return EXIT_SLO_BREACH if breaches else EXIT_OK


def echo_notes(notes: RunNotes) -> None:
    """`info` lines on stdout, then `warnings` on stderr."""
    for line in notes.info:
        click.echo(line)
    for line in notes.warnings:
        click.echo(f"loadgen: warning: {line}", err=True)


@click.command("swarm")
@common_options
@influx_options
@scale_out_options
@sidecar_options
@click.option("--slo", multiple=True, help="objective per level, repeatable: ttft_p95_ms<=500")
def swarm(**opts: Any) -> None:
    """Run chat users against an engine headless; exit 1 if an SLO is breached or the load
    generator was saturated (see --allow-saturated)."""
    spec = check_inputs(opts)
    sidecar = check_sidecar(opts, duration_opt_s(opts, "sidecar-interval"))
    scale_out = master_args(opts)
    with target(opts) as info:
        argv = locust_argv(opts, spec, info, headless=True) + scale_out
        argv += ["--headless", "--only-summary", USER_CLASS]
        influx = (spec.influx_args, spec.influx_env)
        engine, run_s = opts["engine"] or info.engine, spec.plan.total_s
        with running_sidecar(sidecar, spec.run_id, spec.results_dir, info, engine, influx, run_s):
            completed = run_child(argv, child_env(opts, spec))
    notes = finish_results(spec.results_dir, {"sim_profile": opts["sim"]} if opts["sim"] else {})
    check_started(spec.results_dir, opts)
    code = max(gate(spec.results_dir, spec.slos), generator_gate(spec.results_dir, opts))
    echo_notes(notes)
    sys.exit(code if completed else 130)
