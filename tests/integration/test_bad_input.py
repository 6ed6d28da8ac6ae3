"""Bad input to every command: exit 2, exactly one line on stderr, no traceback, nothing started.

The bulk comes from the flag table: every number of swarm and ui (loadgen/flags.py) and every
number the other commands declare as a Flag row, each given NaN, infinity, text and a value out
of its range. They run in-process (click's CliRunner: each command fails before any process
starts); a representative subset runs as real subprocesses.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from loadgen.cli import COMMANDS, main
from loadgen.cli.swarm_flags import Checked
from loadgen.flags import CAPACITY, FLAGS, SWARM, UI, Flag, flags_of
from tests.fixtures.net import loadgen_cmd

DEAD_HOST = "http://127.0.0.1:9"  # never reached: every case fails before the probe
BASE: dict[str, list[str]] = {
    SWARM: ["swarm", "--host", DEAD_HOST],
    UI: ["ui", "--host", DEAD_HOST],
    CAPACITY: ["capacity", "--host", DEAD_HOST, "--slo", "ttft_p95_ms<=500"],
    "sim": ["sim"],
    "sidecar": ["sidecar", "--no-nvml"],
    "worker": ["worker"],
    "replay": ["replay", "--influx-url", DEAD_HOST],  # the settings are checked after the flags
}
INFLUX = ["--influx-url", DEAD_HOST, "--influx-db", "x", "--influx-flavour", "v1"]
ARGUMENTS: dict[str, list[str]] = {"replay": ["missing-dir"]}


@dataclass(frozen=True)
class Case:
    """One bad command line and a piece of text its error line must hold."""

    name: str
    argv: list[str]
    needle: str


def command(name: str) -> click.Command:
    cmd = main.get_command(click.Context(main), name)
    assert cmd is not None, name
    return cmd


def numeric_flags(name: str) -> list[Flag]:
    """The numbers of one command: the table's (swarm, ui) or its own Flag rows (the others)."""
    if name in (SWARM, UI, CAPACITY):
        return [f for f in flags_of(name) if f.kind in ("int", "float", "duration")]
    params = command(name).params
    return [p.type.flag for p in params if isinstance(p.type, Checked)]


def bad_values(flag: Flag) -> Iterator[str]:
    yield from ("nan", "inf", "-inf", "abc")
    if flag.kind == "duration":
        yield from ("1e999", "10x")
    if flag.kind == "int":
        yield "1.5"
    if flag.min is not None:
        low = flag.min if flag.min_open else flag.min - 1
        yield f"{low:g}" + ("s" if flag.kind == "duration" and low >= 0 else "")
    if flag.max is not None:
        yield f"{flag.max * 10 + 1:g}"


def table_cases() -> list[Case]:
    cases = []
    for name in BASE:
        for flag in numeric_flags(name):
            for value in bad_values(flag):
                argv = [*BASE[name], f"{flag.option}={value}", *ARGUMENTS.get(name, [])]
                cases.append(Case(f"{name} {flag.option}={value}", argv, flag.option))
    return cases


SWARM_CASES = {
    "slo-nan": (["--slo", "ttft_p95_ms<=nan"], "--slo"),
    "slo-inf": (["--slo", "ttft_p95_ms<=inf"], "--slo"),
    "slo-huge": (["--slo", "ttft_p95_ms<=1e999"], "--slo"),
    "slo-text": (["--slo", "ttft_p95_ms<=fast"], "--slo"),
    "slo-syntax": (["--slo", "ttft_p95_ms<<5"], "--slo"),
    "slo-metric": (["--slo", "happiness>=1"], "--slo metric"),
    "users-zero": (["--users", "0"], "--users"),
    "users-text": (["--users", "1,ten"], "--users"),
    "users-negative": (["--users", "-3"], "--users"),
    "users-repeat": (["--users", "2,2"], "--users"),
    "users-nan": (["--users", "nan"], "--users"),
    "run-time-unit": (["--run-time", "5 fortnights"], "--run-time"),
    "run-time-half": (["--run-time", "1m30"], "--run-time"),
    "run-time-negative": (["--run-time=-5s"], "--run-time"),
    "think-time-text": (["--think-time", "soon"], "--think-time"),
    "warmup-too-long": (["--users", "1,2", "--step-time", "2s", "--warmup", "5s"], "--warmup"),
    "rate-with-levels": (["--rate", "5", "--users", "1,2"], "--rate"),
    "concurrency-without-rate": (["--max-concurrency", "4"], "--max-concurrency"),
    "client": (["--client", "curl"], "--client"),
    "api": (["--api", "grpc"], "--api"),
    "progress": (["--progress", "loud"], "--progress"),
    "missing-dataset": (["--dataset", "/nonexistent/prompts.jsonl"], "prompts.jsonl"),
    "run-id-parent": (["--run-id", "../x"], "--run-id"),
    "run-id-dot": (["--run-id", ".."], "--run-id"),
    "run-id-slash": (["--run-id", "a/b"], "--run-id"),
    "expect-workers-alone": (["--expect-workers", "2"], "--expect-workers"),
    "sim-and-host": (["--sim", "fast"], "--host or --sim"),
    "bad-host-scheme": (["--host", "127.0.0.1:9"], "--host"),
}
OTHER_CASES = {
    "capacity-no-slo": (["capacity", "--host", DEAD_HOST], "--slo"),
    "capacity-levels": ([*BASE[CAPACITY], "--users", "1,2"], "--users"),
    "capacity-start-above-max": (
        [*BASE[CAPACITY], "--users", "9", "--max-users", "4"],
        "--max-users",
    ),
    "capacity-concurrency": ([*BASE[CAPACITY], "--max-concurrency", "4"], "--max-concurrency"),
    "capacity-sim-and-host": ([*BASE[CAPACITY], "--sim", "fast"], "--host or --sim"),
    "sidecar-run-id-parent": (["sidecar", "--run-id", "../x"], "--run-id"),
    "sidecar-run-id-dot": (["sidecar", "--run-id", "."], "--run-id"),
    "sidecar-run-id-abs": (["sidecar", "--run-id", "/tmp/x"], "--run-id"),
    "sidecar-pid-and-name": (["sidecar", "--pid", "1", "--process-name", "x"], "--pid"),
    "sidecar-engine-url": (["sidecar", "--engine-url", "ftp://x"], "--engine-url"),
    "sim-profile": (["sim", "--profile", "no-such-profile"], "no-such-profile"),
    "sim-faults-name": (["sim", "--faults", "gremlins=0.1"], "--faults"),
    "sim-faults-rate": (["sim", "--faults", "http500=nan"], "--faults"),
    "sim-faults-sum": (["sim", "--faults", "http500=0.7,cut=0.7"], "--faults"),
    "sim-faults-duration": (["sim", "--faults", "stall=0.1:" + "9" * 400], "--faults"),
    "sim-models-empty": (["sim", "--models", "m1,,m2"], "--models"),
    "worker-unresolvable": (["worker", "--master-host", "no-such-host.invalid"], "no-such-host"),
    "report-missing": (["report", "/nonexistent/run"], "/nonexistent/run"),
    "compare-missing": (["compare", "/nonexistent/a", "/nonexistent/b"], "/nonexistent/a"),
    "replay-missing": (["replay", "/nonexistent/run", *INFLUX], "/nonexistent"),
    "import-missing": (["import", "/nonexistent/run", *INFLUX], "/nonexistent"),
    "replay-no-url": (["replay", "."], "--influx-url"),
    "unknown-command": (["stampede"], "stampede"),
    "unknown-option": (["swarm", "--userz", "3"], "--userz"),
}


def file_cases(tmp: Path) -> list[Case]:
    """Bad files: not UTF-8, not JSON, not loadgen records, for every command that reads one."""
    binary = tmp / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text\n{}\n")
    not_records = tmp / "other.jsonl"
    not_records.write_text('{"a": 1}\n{"b": 2}\n')
    not_json = tmp / "requests.jsonl"
    not_json.write_text("{oops\n{}\n")
    binary_run = tmp / "binary-run"
    binary_run.mkdir()
    (binary_run / "summary.json").write_bytes(b"\xff\xfe\x00\x81")
    (binary_run / "requests.jsonl").write_bytes(b"\xff\xfe\x00\x81\n\x82\n")
    bad_profile = tmp / "nan.toml"
    bad_profile.write_text("step_base_ms = nan\n")
    bad_dataset = tmp / "prompts.jsonl"
    bad_dataset.write_bytes(b"\xff\xfe\x00\x81\n")
    replay = INFLUX
    cases = [
        Case("replay-binary", ["replay", str(binary), *replay], "UTF-8"),
        Case("replay-not-records", ["replay", str(not_records), *replay], "no loadgen records"),
        Case("replay-not-json", ["replay", str(not_json), *replay], "not valid JSON"),
        Case("replay-binary-run", ["replay", str(binary_run), *replay], "UTF-8"),
        Case("import-binary", ["import", str(binary), *replay], "UTF-8"),
        Case("report-binary-run", ["report", str(binary_run)], "summary.json"),
        Case("sim-nan-profile", ["sim", "--profile", str(bad_profile)], "step_base_ms"),
        Case("swarm-binary-dataset", ["swarm", "--dataset", str(bad_dataset)], "prompts.jsonl"),
    ]
    return cases


def all_cases(tmp: Path) -> list[Case]:
    cases = table_cases() + file_cases(tmp)
    for name, (args, needle) in SWARM_CASES.items():
        cases.append(Case(f"swarm {name}", [*BASE[SWARM], *args], needle))
    for name, (args, needle) in OTHER_CASES.items():
        cases.append(Case(name, args, needle))
    return cases


def clean_env() -> dict[str, str | None]:
    """Unset loadgen's and InfluxDB's settings, so each case's flags alone decide."""
    names = {f.env_var for f in FLAGS} | {"LOADGEN_RUN_ID", "LOADGEN_RESULTS"}
    names |= {k for k in os.environ if k.startswith(("LOADGEN_", "INFLUX_"))}
    return dict.fromkeys(names)


def check_one_line(case: Case, code: int | None, stderr: str, where: Path) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, (case.name, code, stderr)
    assert len(lines) == 1 and lines[0].startswith("loadgen: error:"), (case.name, stderr)
    assert case.needle in lines[0], (case.name, lines[0])
    assert "Traceback" not in stderr
    written = [p for p in (where / "results").rglob("*") if p.is_file()]
    assert not written, (case.name, written)  # no run, no sidecar wrote anything
    assert not (where / "x").exists(), case.name  # --run-id ../x: nothing outside results/


def test_the_table_gives_every_command_its_numbers() -> None:
    """Every numeric option of every command is typed and checked by a Flag row."""
    for name in COMMANDS:
        for param in command(name).params:
            numeric = isinstance(param.type, click.types.IntParamType | click.types.FloatParamType)
            assert not numeric, f"{name} {param.opts}: declare it as a Flag row"
    for name in ("sim", "sidecar", "worker", "replay"):
        assert numeric_flags(name), name


def test_bad_input_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cases = all_cases(tmp_path)
    assert len(cases) >= 150, len(cases)
    runner = CliRunner()
    for case in cases:
        result = runner.invoke(main, case.argv, env=clean_env())
        check_one_line(case, result.exit_code, result.stderr, tmp_path)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_bad_input_as_subprocesses(tmp_path: Path, busy_port: int) -> None:
    """A representative subset as real processes: also nothing left running afterwards."""
    every = all_cases(tmp_path)
    cases = [c for c in every if c.name.endswith("=nan") and not c.name.startswith(SWARM)]
    picked = ("swarm --spawn-rate=inf", "swarm slo-nan", "swarm run-id-parent", "ui --rate=abc")
    picked += ("sidecar-run-id-parent", "worker-unresolvable", "replay-binary", "report-binary-run")
    cases += [c for c in every if c.name in picked]
    cases += [
        Case("ui-port-busy", ["ui", "--sim", "fast", "--web-port", str(busy_port)], "--web-port"),
        Case("swarm-sim-profile", ["swarm", "--sim", "no-such-profile"], "no-such-profile"),
        Case("swarm-sim-faults", ["swarm", "--sim", "fast", "--sim-faults", "x=1"], "--faults"),
        Case("swarm-sim-models", ["swarm", "--sim", "fast", "--sim-models", ","], "--models"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in clean_env()}

    def run(case: Case) -> tuple[Case, subprocess.CompletedProcess[str], int]:
        proc = subprocess.Popen(
            loadgen_cmd(*case.argv),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stdout, stderr = proc.communicate(timeout=60)
        return (
            case,
            subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
            proc.pid,
        )

    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(run, cases))
    for case, proc, pid in done:
        check_one_line(case, proc.returncode, proc.stderr, tmp_path)
        assert (
            "listening on" not in proc.stdout and "127.0.0.1:" + str(busy_port) not in proc.stdout
        )
        with pytest.raises(ProcessLookupError):  # no simulator or Locust child left behind
            os.killpg(pid, 0)
    assert len(done) >= 15
