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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import click

from loadgen import __version__
from loadgen.backends.base import ChatRequest
from loadgen.cli.influx_options import influx_values, locust_args, locust_env
from loadgen.cli.influx_options import settings_from_options as influx_settings
from loadgen.cli.scale_out import master_args
from loadgen.cli.swarm_flags import options_for
from loadgen.errors import LoadgenError
from loadgen.fingerprint import Fingerprint
from loadgen.flags import (
    AUTO,
    FLAG,
    SWARM,
    check_values,
    child_argv,
    child_secrets,
    duration_text,
    seconds_of,
    secret_env_vars,
    value_of,
)
from loadgen.redact import redact_url
from loadgen.results import (
    CSV_PREFIX,
    REQUESTS_FILE,
    SUMMARY_FILE,
    make_run_id,
    prepare_results_dir,
    redact_argv,
)
from loadgen.run.fingerprint import client_of, gather, workload_of
from loadgen.run.plan import StepPlan, parse_users
from loadgen.run.preflight import check_model, probe_request_s
from loadgen.run.run_end import ChildEnd, RunNotes, finish_results
from loadgen.run.sidecar_link import check_sidecar, running_sidecar
from loadgen.run.sim_launch import profile_engine, simulator
from loadgen.run.target import TargetInfo, probe
from loadgen.run.verdicts import (
    Verdict,
    check_started,
    generator_verdict,
    run_verdict,
    steady_verdict,
)
from loadgen.sinks.influx_http import InfluxHttp, preflight
from loadgen.sinks.influx_replay import replay as replay_files
from loadgen.sinks.influx_settings import InfluxSettings
from loadgen.slo import Slo, parse_slos
from loadgen.summary import RunMeta, RunSummary
from loadgen.summary_table import format_table
from loadgen.tokens import text_of
from loadgen.workload import load_dataset

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "swarm"
LOCUSTFILE = PACKAGE_DIR / "locustfile.py"
SHAPEFILE = PACKAGE_DIR / "shapefile.py"
USER_CLASS = "Chat"
CHILD_GRACE_S = 3.0  # after Ctrl-C: time for Locust to notice it by itself
CHILD_STOP_S = 60.0  # then: time to write its results after SIGTERM


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
    influx: InfluxSettings | None = None  # after preflight (flavour detected)


def _given(opts: dict[str, Any], name: str) -> bool:
    """Whether flag `name` holds anything but its default."""
    flag = FLAG[name]
    return flag.dest in opts and value_of(opts, name) != flag.typed(flag.default)


def _length_flag(opts: dict[str, Any], levels: int) -> str:
    """The flag that sets a level's length: --run-time for one level, --step-time for a list.
    One level takes --step-time as well; the flag meant for the other shape is an error, not
    silently ignored."""
    if levels > 1:
        if _given(opts, "run-time"):
            raise LoadgenError(
                "--run-time is the length of one level; with a --users list give --step-time"
                " (each level's length)"
            )
        return "step-time"
    if _given(opts, "step-time"):
        if _given(opts, "run-time"):
            raise LoadgenError("one level: give --run-time or --step-time, not both")
        return "step-time"
    return "run-time"


def _plan(opts: dict[str, Any]) -> tuple[StepPlan, float | None]:
    levels = parse_users(opts["users"])
    rate = opts["rate"]
    if rate is not None:
        if len(levels) > 1:
            raise LoadgenError("--rate runs one level: give --max-concurrency, not a --users list")
        levels = (opts["max_concurrency"] or 64,)
    elif opts["max_concurrency"] is not None:
        raise LoadgenError("--max-concurrency only applies with --rate (open loop)")
    if any(a == b for a, b in itertools.pairwise(levels)):
        raise LoadgenError("--users: consecutive levels must differ")
    name = _length_flag(opts, len(levels))
    auto = value_of(opts, name) == AUTO  # a level lasts until measured, --max-step-time at most
    length = seconds_of(opts, "max-step-time" if auto else name)
    ramp = None if rate is not None or opts.get("ramp") is None else seconds_of(opts, "ramp")
    plan = StepPlan(
        levels, length, seconds_of(opts, "warmup"), opts["spawn_rate"], auto=auto, ramp_s=ramp
    )
    return plan, rate


def check_inputs(opts: dict[str, Any]) -> RunSpec:
    """Validate every flag; raises LoadgenError (exit 2) before any process starts."""
    check_values(opts)  # kinds and ranges of loadgen/flags.py, also for opts built in code
    plan, rate = _plan(opts)
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
    prepare_results_dir(results_dir, bool(opts.get("overwrite")))  # empty and writable, or exit 2
    return RunSpec(plan, rate, slos, run_id, results_dir, influx_args, influx_env, influx)


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
                simulator(opts["sim"], truth, opts["seed"], opts["sim_faults"], opts["sim_models"])
            )
        host = sim.url if sim is not None else _host(opts)
        info = probe(host, opts["api"], opts["model"] or "", opts["api_key"])
        check_model(info, opts["api_key"], seconds_of(opts, "request-timeout"))  # or exit 2
        if sim is not None:  # labelled as the engine its profile imitates (docs/swarm.md)
            info = replace(info, engine=profile_engine(opts["sim"]), pid=sim.pid)
        yield info


def _run_values(
    opts: dict[str, Any], spec: RunSpec, info: TargetInfo, first_ramp_s: float | None = None
) -> dict[str, Any]:
    """The flags' values for the Locust child: the command's, with the plan, the probed target,
    the run id, the first level's ramp and the checked InfluxDB settings in place of what they
    came from."""
    plan = spec.plan
    run = {
        "host": info.host,
        "levels": ",".join(map(str, plan.users)),
        "step_time": AUTO if plan.auto else plan.step_time_s,
        "max_step_time": plan.step_time_s if plan.auto else opts["max_step_time"],
        "warmup": plan.warmup_s,
        "step_spawn_rate": plan.spawn_rate or 0.0,
        "ramp": plan.ramp_s,
        "first_ramp": first_ramp_s,
        "rate": spec.rate,
        "api": info.api,
        "model": info.model,
        "engine": opts["engine"] or info.engine,
        "run_id": spec.run_id,
        "results": str(spec.results_dir),
    }
    return {**opts, **run, **influx_values(spec.influx)}


def locust_argv(
    opts: dict[str, Any],
    spec: RunSpec,
    info: TargetInfo,
    headless: bool,
    first_ramp_s: float | None = None,
) -> list[str]:
    """The Locust child's command line: every `to_child` flag of loadgen/flags.py that is set
    (no secrets: the API key and InfluxDB's travel in the environment)."""
    plan = spec.plan
    files = f"{LOCUSTFILE},{SHAPEFILE}" if headless or len(plan.users) > 1 else str(LOCUSTFILE)
    argv = [sys.executable, "-m", "locust", "-f", files]
    argv += child_argv(_run_values(opts, spec, info, first_ramp_s))
    return [*argv, "--csv", str(spec.results_dir / CSV_PREFIX), "--skip-log-setup"]


def child_env(opts: dict[str, Any], spec: RunSpec) -> dict[str, str]:
    """Locust's environment: secrets travel here, never on its command line."""
    env = {k: v for k, v in os.environ.items() if k not in secret_env_vars()}
    env.update(child_secrets({**opts, **influx_values(spec.influx)}), LOADGEN_CHILD="1")
    env["LOADGEN_COMMAND_ARGV"] = json.dumps(redact_argv(["loadgen", *sys.argv[1:]]))
    return env


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def run_child(argv: list[str], env: dict[str, str]) -> bool:
    """Run Locust to its end; False if interrupted."""
    return not run_locust(argv, env).interrupted


def run_locust(argv: list[str], env: dict[str, str]) -> ChildEnd:
    """Run Locust to its end, and say how it ended.

    Ctrl-C reaches Locust too (same process group): it stops its users and writes its results,
    and ignores any further Ctrl-C meanwhile. A SIGTERM or SIGINT sent to this process alone is
    passed on as SIGINT after CHILD_GRACE_S (at once on a second Ctrl-C); a third one kills it.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen(argv, env=env)
    try:
        return ChildEnd(proc.wait())
    except KeyboardInterrupt:
        return ChildEnd(_stop_child(proc), interrupted=True)


def _stop_child(proc: subprocess.Popen[bytes]) -> int:
    """After the first Ctrl-C: the second passes SIGINT on at once, a third kills the child.
    Once it has ended, one more Ctrl-C is ignored while this process writes the results (a
    second press can come after a child that stopped fast), and a further one exits 130."""
    presses = [1]

    def press(_signum: int, _frame: Any) -> None:
        presses[0] += 1
        if proc.poll() is None:
            proc.kill() if presses[0] >= 3 else proc.send_signal(signal.SIGINT)
        elif presses[0] > 2:
            raise SystemExit(130)
        else:
            click.echo("loadgen: already stopping: writing the results", err=True)

    signal.signal(signal.SIGINT, press)
    signal.signal(signal.SIGTERM, press)
    try:
        proc.wait(CHILD_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(CHILD_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
    return proc.wait()


def exit_interrupted() -> NoReturn:
    """Exit 130 after a Ctrl-C'd run whose results are written. A further Ctrl-C is ignored
    from here on: Python puts back the default handler as it exits, and a second press that came
    after a child that stopped fast would kill this process mid-exit (status -2, not 130)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(130)


def first_ramp(opts: dict[str, Any], spec: RunSpec, info: TargetInfo) -> float | None:
    """The first level's automatic ramp: one probe request of the run's size, alone on the
    engine (a lower bound of a request under load); None when the ramp is not automatic."""
    plan = spec.plan
    if spec.rate is not None or plan.spawn_rate is not None or plan.ramp_s is not None:
        return None
    work = ChatRequest(
        model=info.model,
        messages=({"role": "user", "content": text_of(opts["input_tokens"], opts["seed"])},),
        max_tokens=opts["output_tokens"],
        ignore_eos=bool(opts["ignore_eos"]),
        min_tokens=opts["min_tokens"] or None,
        temperature=opts["temperature"],
    )
    return probe_request_s(info, opts["api_key"], seconds_of(opts, "request-timeout"), work)


def run_fingerprint(opts: dict[str, Any], info: TargetInfo, engine: str) -> Fingerprint:
    """The run's fingerprint, read before any load (short timeouts; a part it cannot read is
    null, never a failed run): docs/engine-insight.md."""
    info = replace(info, engine=engine)
    client = client_of(opts, info.api)
    return gather(info, workload_of(opts), opts["api_key"], opts["sim"] or None, client=client)


def fallback_meta(spec: RunSpec, info: TargetInfo, engine: str) -> RunMeta:
    """meta.json as far as this process knows it, for a Locust child that wrote none."""
    return RunMeta(
        run_id=spec.run_id,
        loadgen_version=__version__,
        argv=redact_argv(["loadgen", *sys.argv[1:]]),
        target=redact_url(info.host),
        engine=engine,
        target_version=info.version,
        api=info.api,
        model=info.model,
        user_class=USER_CLASS,
    )


def restore_influx(spec: RunSpec, child: ChildEnd, notes: RunNotes) -> None:
    """A killed Locust child took its unsent InfluxDB points with it: load its requests.jsonl
    into InfluxDB again (idempotent: points already there are overwritten, never doubled)."""
    requests = spec.results_dir / REQUESTS_FILE
    if spec.influx is None or child.returncode >= 0 or not requests.is_file():
        return
    client = InfluxHttp(spec.influx)
    try:
        counts = replay_files(client, [requests])
    except LoadgenError as exc:
        notes.warnings.append(
            f"InfluxDB may miss requests of the killed run ({exc}): push them with"
            f" `loadgen replay {spec.results_dir} --only jsonl`"
        )
        return
    finally:
        client.close()
    notes.info.append(f"influx: reloaded {counts.total} request points from {requests}")


def echo_end(child: ChildEnd, summary: RunSummary | None) -> int:
    """A run cut short by anything but Ctrl-C: its cause on stderr, and exit code 1."""
    reason = summary.end_reason if summary is not None else child.end_reason
    if child.interrupted or (summary is not None and summary.complete) or not reason:
        return 0
    click.echo(f"loadgen: error: the run is incomplete: {reason}", err=True)
    return 1


def gate(
    summary: RunSummary | None,
    results_dir: Path,
    slos: list[Slo],
    max_error_rate: float | None = None,
) -> int:
    """Print the per-level table, every SLO and error-gate breach, a level without a success
    and an engine that stopped answering; the exit code."""
    if summary is None:
        raise LoadgenError(f"the run wrote no {results_dir / SUMMARY_FILE}; see the output above")
    click.echo(format_table(summary, max_error_rate))
    for line in summary.diagnostics.lines() if summary.diagnostics else ():
        click.echo(line)  # Ollama's capacity traps (loadgen/diagnostics.py)
    click.echo(f"results: {results_dir}")
    return echo_verdict(run_verdict(summary, slos, max_error_rate))


def echo_verdict(verdict: Verdict) -> int:
    for line in verdict.lines:
        click.echo(line, err=True)
    return verdict.code


def echo_notes(notes: RunNotes) -> None:
    """`info` lines on stdout, then `warnings` on stderr."""
    for line in notes.info:
        click.echo(line)
    for line in notes.warnings:
        click.echo(f"loadgen: warning: {line}", err=True)


@click.command("swarm")
@options_for(SWARM)
def swarm(**opts: Any) -> None:
    """Run chat users against an engine headless; exit 1 if an SLO is breached, a level's
    error rate is above --max-error-rate (default 0.05), a level had no successful request,
    the engine became unreachable, or the load generator was saturated (see
    --allow-saturated)."""
    spec = check_inputs(opts)
    sidecar = check_sidecar(opts, seconds_of(opts, "sidecar-interval"))
    scale_out = master_args(opts)
    with target(opts) as info:
        ramp_s = first_ramp(opts, spec, info)
        argv = locust_argv(opts, spec, info, headless=True, first_ramp_s=ramp_s) + scale_out
        argv += ["--headless", "--only-summary", USER_CLASS]
        influx = (spec.influx_args, spec.influx_env)
        engine, run_s = opts["engine"] or info.engine, spec.plan.total_s
        fingerprint = run_fingerprint(opts, info, engine)
        with running_sidecar(sidecar, spec.run_id, spec.results_dir, info, engine, influx, run_s):
            child = run_locust(argv, child_env(opts, spec))
    meta = fallback_meta(spec, info, engine)
    summary, notes = finish_results(
        spec.results_dir, opts["sim"], child, meta, spec.plan.warmup_s, spec.plan.auto, fingerprint
    )
    restore_influx(spec, child, notes)
    ended = echo_end(child, summary)
    if summary is None and ended:
        sys.exit(ended)
    if child.interrupted and (summary is None or not summary.started):
        exit_interrupted()  # Ctrl-C before any load (a master waiting for its workers)
    if opts["master"]:
        wait = duration_text(seconds_of(opts, "worker-wait"))
        check_started(summary, opts["expect_workers"] or 1, wait)
    code = gate(summary, spec.results_dir, spec.slos, opts["max_error_rate"])
    if summary is not None:
        code = max(code, echo_verdict(steady_verdict(summary, opts["require_steady"])))
        code = max(code, echo_verdict(generator_verdict(summary, opts["allow_saturated"])))
    echo_notes(notes)
    if child.interrupted:
        exit_interrupted()
    sys.exit(max(code, ended))
