"""Every flag of `loadgen swarm`, `loadgen ui` and loadgen's Locust side, declared once (FLAGS).

Pure: click options (loadgen/cli/swarm_flags.py) and Locust's parser arguments
(loadgen/swarm/options.py) are generated from this table; `python -m loadgen.flags` lists it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from loadgen.errors import LoadgenError

Kind = Literal["str", "path", "int", "float", "switch", "duration", "choice"]
Value = str | int | float | bool | tuple[str, ...] | None

SWARM, UI, LOCUST, SIDECAR, REPLAY = "swarm", "ui", "locust", "sidecar", "replay"
CAPACITY = "capacity"
CLIENTS: tuple[str, ...] = ("fast", "openai")
DEFAULT_CLIENT = "fast"  # bench/client_cost.py: less CPU per streamed token, same timing
DEFAULT_MASTER_PORT = 5557
SATURATED_CPU_PCT = 90.0  # a worker's process CPU (100 = one core) at or above this is busy
SATURATED_INTERVALS = 2  # ... for this many consecutive intervals: saturated (run/health.py)
SATURATED_LAG_MS = 50.0  # a worker whose event-loop lag p99 is above this is late (run/health.py)
MAX_ERROR_RATE = 0.05  # the default error gate of every level: error_rate <= this
AUTO = "auto"  # --step-time/--run-time: a level lasts until it has measured enough
MIN_REQUESTS = 50  # auto levels: finished requests in the steady window
MAX_STEP_TIME_S = 600.0  # auto levels: the cap
# --itl-resolution: frames of one stream closer together than this may share a read and its
# stamp (--client fast); each read is the reader's largest cost per frame (docs/performance.md)
ITL_RESOLUTION_S = 0.002
INFLUX_FLAVOURS: tuple[str, ...] = ("v1", "v2", "auto")
# InfluxDB's flags --influx-NAME: NAME -> environment variable (docs/influxdb.md); the settings
# (sinks/influx_settings.py) read the same names.
INFLUX_ENV_VARS: dict[str, str] = {
    "url": "INFLUX_URL",
    "flavour": "INFLUX_FLAVOUR",
    "token": "INFLUX_TOKEN",
    "org": "INFLUX_ORG",
    "bucket": "INFLUX_BUCKET",
    "db": "INFLUX_DB",
    "rp": "INFLUX_RP",
    "user": "INFLUX_USER",
    "password": "INFLUX_PASSWORD",
}
INFLUX_SECRETS: tuple[str, ...] = ("token", "password")

_SPAN_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration_s(text: str, flag: str = "duration") -> float:
    """'90', '90s', '1m30s', '250ms' or '1h' -> seconds; anything else is bad input."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return finite(float(value), flag)
    parts = _SPAN_RE.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise LoadgenError(f"{flag}: cannot read {text!r} as a duration (e.g. 30s, 2m, 1m30s)")
    return finite(sum(float(n) * _UNIT_S[u] for n, u in parts), flag)


def duration_text(seconds: float) -> str:
    """Seconds as they are typed: '2ms' under a second, else '60s' (parse_duration_s reads
    both back)."""
    if 0 < abs(seconds) < 1:
        return f"{round(seconds * 1000, 6):g}ms"
    return f"{seconds:g}s"


def finite(value: float, what: str) -> float:
    """`value` if it is a finite number; LoadgenError otherwise (the one rule for NaN and
    infinity, for every number of every command)."""
    if not math.isfinite(value):
        raise LoadgenError(f"{what}: {value!r} is not a finite number")
    return value


_RUN_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")


def run_id(text: str, what: str = "--run-id") -> str:
    """`text` if it can name a results directory: letters, digits, '.', '_' and '-', not '.'
    or '..' (the one rule of swarm, locust and sidecar); LoadgenError otherwise."""
    if not _RUN_ID_RE.fullmatch(text) or text in (".", ".."):
        raise LoadgenError(f"{what}: use letters, digits, '.', '_' and '-' only, got {text!r}")
    return text


def env_name(name: str) -> str:
    """The environment variable of a flag that declares none: --think-time -> LOADGEN_THINK_TIME."""
    return "LOADGEN_" + name.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag: its value's kind, its one default (durations in seconds) and where it applies."""

    name: str  # without the leading dashes
    kind: Kind
    default: Value
    help: str
    commands: frozenset[str]  # swarm, ui, locust (loadgen's Locust parser), sidecar, replay
    to_child: bool = False  # `loadgen swarm`/`ui` pass it to their Locust child (secrets: env)
    web_ui: bool = False  # editable in Locust's web UI start form
    env: str = ""  # an environment variable other than env_name(name)
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # the value must be above `min`, not just at least `min`
    secret: bool = False  # never on a command line, never shown
    multiple: bool = False  # repeatable (click only)
    rule: Callable[[str, str], str] | None = None  # a text's own check (run_id), else none
    words: tuple[str, ...] = ()  # texts taken as they are besides the kind's values ("auto")

    @property
    def option(self) -> str:
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_var(self) -> str:
        return self.env or env_name(self.name)

    def parse(self, text: str) -> Value:
        """The typed, range-checked value of `text`; LoadgenError (one line) if it is bad."""
        value: Value
        if text.strip().lower() in self.words:
            return text.strip().lower()
        if self.kind == "duration":
            value = parse_duration_s(text, self.option)
        elif self.kind in ("int", "float"):
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                noun = "a whole number" if self.kind == "int" else "a number"
                raise LoadgenError(f"{self.option}: {text!r} is not {noun}") from None
        elif self.kind == "switch":
            value = text.strip().lower() in ("1", "true", "yes", "on")
        else:
            value = text
        return self.check(value)

    def typed(self, raw: object) -> Value:
        """A value as it may arrive (click's, Locust's, or text): typed and range-checked."""
        if isinstance(raw, str) and self.kind not in ("str", "path", "choice"):
            return self.parse(raw)
        return self.check(raw)  # type: ignore[arg-type]

    def check(self, value: Value) -> Value:
        """`value` if it is one of the choices and inside the range; else LoadgenError."""
        if isinstance(value, str) and value in self.words:
            return value
        if self.choices and value is not None and value not in self.choices:
            raise LoadgenError(f"{self.option}: {value!r} is not one of {', '.join(self.choices)}")
        if self.rule is not None and isinstance(value, str):
            return self.rule(value, self.option)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return value
        if not math.isfinite(value):
            raise LoadgenError(f"{self.option}: {value!r} is not a finite number")
        text = self.text
        if self.min is not None and self.max is not None and not self.min <= value <= self.max:
            bounds = f"between {text(self.min)} and {text(self.max)}"
        elif self.min is not None and self.min_open and value <= self.min:
            longer = self.kind == "duration"
            bounds = ("longer than " if longer else "above ") + text(self.min)
        elif self.min is not None and value < self.min:
            bounds = f"at least {text(self.min)}"
        elif self.max is not None and value > self.max:
            bounds = f"at most {text(self.max)}"
        else:
            return value
        raise LoadgenError(f"{self.option} must be {bounds}, got {text(value)}")

    def text(self, value: float) -> str:
        """A number of this flag as it is typed: durations with their unit ('2ms', '60s')."""
        return duration_text(value) if self.kind == "duration" else f"{value:g}"


def _on(commands: str) -> frozenset[str]:
    return frozenset(commands.split())


_INFLUX_HELP = {
    "url": "InfluxDB base URL, e.g. http://127.0.0.1:8086 (unset: InfluxDB is off)",
    "flavour": "write API: v1 (/write, 1.x), v2 (/api/v2/write, 2.x/3.x), auto (from /ping)",
    "token": "v2 API token (or a v1-compatible token)",
    "org": "v2 organisation",
    "bucket": "v2 bucket",
    "db": "v1 database",
    "rp": "v1 retention policy (default: the database's default)",
    "user": "v1 user name",
    "password": "v1 password",
}
# Named and given their environment variables by INFLUX_ENV_VARS.
INFLUX_FLAGS: tuple[Flag, ...] = tuple(
    Flag(
        f"influx-{name}",
        "choice" if name == "flavour" else "str",
        "auto" if name == "flavour" else None,
        _INFLUX_HELP[name],
        _on("swarm ui locust sidecar replay"),
        to_child=True,
        env=env_var,
        choices=INFLUX_FLAVOURS if name == "flavour" else (),
        secret=name in INFLUX_SECRETS,
    )
    for name, env_var in INFLUX_ENV_VARS.items()
)
# The table, in `--help` order (click lists a command's flags in this order).
# fmt: off
_TARGET: tuple[Flag, ...] = (
    Flag("host", "str", None, "target base URL (also OLLAMA_HOST with --api ollama)",
         _on("swarm ui"), to_child=True),  # Locust's own --host
    Flag("sim", "str", None, "start `loadgen sim --profile SIM` and target it", _on("swarm ui")),
    Flag("sim-faults", "str", "", "faults for --sim (see `loadgen sim --help`)", _on("swarm ui")),
    Flag("sim-models", "str", "", "--sim: serve only these models, e.g. m1,m2 (others: 404)",
         _on("swarm ui")),
    Flag("sim-truth", "path", None, "--sim: write the simulator's ground-truth JSONL here",
         _on("swarm ui")),
    Flag("api", "choice", "auto", "wire protocol (auto: probe the server)",
         _on("swarm ui locust"), to_child=True, choices=("auto", "openai", "ollama")),
    Flag("model", "str", None, "model (default: the server's first)", _on("swarm ui locust"),
         to_child=True),
    Flag("api-key", "str", None, "bearer token (env OPENAI_API_KEY); never printed or stored",
         _on("swarm ui locust"), to_child=True, env="OPENAI_API_KEY", secret=True),
)

_LOAD: tuple[Flag, ...] = (
    Flag("users", "str", "1", "users, or levels for steps: 1,10,50", _on("swarm ui")),
    Flag("spawn-rate", "float", None, "users started per second", _on("swarm ui"), min=0,
         min_open=True),
    Flag("run-time", "duration", AUTO, "run length (one level); auto: as --step-time auto",
         _on("swarm ui"), min=0, min_open=True, words=(AUTO,)),
    Flag("step-time", "duration", AUTO, "length of each level; auto: until its steady window"
         " holds --min-requests and 3x their median E2E, at most --max-step-time",
         _on("swarm ui locust"), to_child=True, min=0, min_open=True, words=(AUTO,)),
    Flag("min-requests", "int", MIN_REQUESTS, "auto levels: finished requests a steady window"
         " needs", _on("swarm ui locust"), to_child=True, min=1),
    Flag("max-step-time", "duration", MAX_STEP_TIME_S, "auto levels: the longest a level lasts"
         " (default 10m)", _on("swarm ui locust"), to_child=True, min=0, min_open=True),
    Flag("warmup", "duration", 0.0, "start of each level excluded from its window",
         _on("swarm ui locust"), to_child=True, min=0),
    Flag("ramp", "duration", None, "a level's new users start spread over this long (default:"
         " one request's E2E; 0: at once)", _on("swarm locust"), to_child=True, min=0),
    Flag("first-ramp", "duration", None, "the first level's ramp without --ramp (loadgen swarm:"
         " a probe request's E2E; default 1s)", _on("locust"), to_child=True, min=0),
    Flag("levels", "str", None, "steps: users per level, e.g. 1,10,50 (walked by the packaged"
         " shape)", _on("locust"), to_child=True),
    Flag("step-spawn-rate", "float", 0.0, "users/s when moving between levels (0: reach in"
         " ~1 s)", _on("locust"), to_child=True, min=0),
    Flag("rate", "float", None, "open loop: Poisson arrivals per second", _on("swarm ui locust"),
         to_child=True, min=0, min_open=True),
    Flag("max-concurrency", "int", None, "open loop: users available to serve arrivals"
         " (default 64)", _on("swarm ui"), min=1),
    Flag("results", "str", None, "results directory (default results/<run_id>)",
         _on("swarm ui locust"), to_child=True),
    Flag("overwrite", "switch", False, "reuse a non-empty --results directory (its files are"
         " replaced)", _on("swarm ui locust"), to_child=True),
    Flag("engine", "str", None, "engine label for the results (default: detected)",
         _on("swarm ui locust"), to_child=True),
    Flag("processes", "int", None, "Locust worker processes on this machine", _on("swarm ui"),
         to_child=True, min=1),  # Locust's own --processes
)

_WORKLOAD: tuple[Flag, ...] = (
    Flag("input-tokens", "int", 128, "prompt tokens (mean)", _on("swarm ui locust"),
         to_child=True, web_ui=True, min=1),
    Flag("input-spread", "int", 0, "prompt tokens std dev", _on("swarm ui locust"),
         to_child=True, min=0),
    Flag("output-tokens", "int", 128, "max_tokens (num_predict for Ollama)",
         _on("swarm ui locust"), to_child=True, web_ui=True, min=1),
    Flag("ignore-eos", "switch", False, "ask the server to ignore EOS (vLLM, sim)",
         _on("swarm ui locust"), to_child=True),
    Flag("min-tokens", "int", 0, "min_tokens (0: unset)", _on("swarm ui locust"), to_child=True,
         min=0),
    Flag("temperature", "float", None, "sampling temperature", _on("swarm ui locust"),
         to_child=True, min=0),
    Flag("dataset", "path", None, "JSONL prompts or ShareGPT conversations",
         _on("swarm ui locust"), to_child=True),
    Flag("system-prompt", "str", None, "system message for every conversation",
         _on("swarm ui locust"), to_child=True),
    Flag("seed", "int", 0, "seed: prompts, think times, arrivals", _on("swarm ui locust"),
         to_child=True),
    Flag("turns", "int", 1, "turns per conversation", _on("swarm ui locust"), to_child=True,
         web_ui=True, min=1),
    Flag("think-time", "duration", 0.0, "pause between turns (e.g. 2s)", _on("swarm ui locust"),
         to_child=True, web_ui=True, min=0),
    Flag("request-timeout", "duration", 600.0, "whole-request timeout", _on("swarm ui locust"),
         to_child=True, min=0, min_open=True),
    Flag("stall-timeout", "duration", 60.0, "max silence mid-stream", _on("swarm ui locust"),
         to_child=True, min=0, min_open=True),
    Flag("itl-resolution", "duration", ITL_RESOLUTION_S, "--client fast: frames of a stream"
         " closer together than this may share a read and its stamp (less costs more CPU per"
         " token)", _on("swarm ui locust"), to_child=True, min=0.001, max=0.05),
    Flag("client", "choice", DEFAULT_CLIENT, "fast (gevent sockets, httptools, kernel read"
         " stamps) or openai (the official SDK)", _on("swarm ui locust"), to_child=True,
         choices=CLIENTS),
    Flag("interval", "duration", 5.0, "progress/llm_interval period", _on("swarm ui locust"),
         to_child=True, min=0, min_open=True),
    Flag("progress", "choice", "auto", "live line on a TTY, one line per interval in CI",
         _on("swarm ui locust"), to_child=True, choices=("auto", "live", "lines", "off")),
)

_SCALE_OUT: tuple[Flag, ...] = (
    Flag("run-id", "str", None, "run id (default: UTC time + random suffix); share it with"
         " `loadgen sidecar`", _on("swarm locust"), to_child=True, rule=run_id),
    Flag("master", "switch", False, "run as the master of `loadgen worker` processes on other"
         " hosts", _on("swarm")),
    Flag("expect-workers", "int", None, "--master: start once this many workers have joined",
         _on("swarm"), min=1),
    Flag("master-bind-host", "str", "*", "--master: interface to listen on (* = all)",
         _on("swarm")),
    Flag("master-port", "int", DEFAULT_MASTER_PORT, "--master: port the workers connect to",
         _on("swarm"), min=1, max=65535),
    Flag("worker-wait", "duration", 120.0, "--master: give up (exit 2) if the workers have not"
         " joined by then", _on("swarm"), min=1),
    Flag("saturation-lag-ms", "float", SATURATED_LAG_MS, "a worker whose event-loop lag p99 is"
         f" above this for {SATURATED_INTERVALS} intervals is saturated", _on("swarm locust"),
         to_child=True, min=0, min_open=True),
    Flag("allow-saturated", "switch", False, "exit 0 even if the load generator was saturated"
         " (it is still reported)", _on("swarm")),
    Flag("saturation-cpu-pct", "float", SATURATED_CPU_PCT, "a worker at or above this CPU %"
         f" (100 = one core) for {SATURATED_INTERVALS} intervals is saturated",
         _on("swarm locust"), to_child=True, min=0),
    Flag("saturation-intervals", "int", SATURATED_INTERVALS, "busy for this many intervals in a"
         " row: 'load generator saturated'", _on("locust"), min=1),
)

_SIDECAR: tuple[Flag, ...] = (
    Flag("sidecar", "switch", False, "sample VRAM, GPU and the engine's RAM beside the run"
         " (sidecar.jsonl)", _on("swarm ui")),
    Flag("sidecar-pid", "int", None, "--sidecar: the engine's root process id (default with"
         " --sim: the simulator)", _on("swarm ui")),
    Flag("sidecar-process-name", "str", None, "--sidecar: find the engine process by name"
         " (ollama, vllm, python...)", _on("swarm ui")),
    Flag("sidecar-interval", "duration", 1.0, "--sidecar: time between samples (0.1s = 10 Hz)",
         _on("swarm ui"), min=0.01, max=3600),
)

_UI: tuple[Flag, ...] = (
    Flag("web-port", "int", 8089, "port of the web UI (bound to 127.0.0.1)", _on("ui"),
         to_child=True, min=1, max=65535),  # Locust's own --web-port
    Flag("autostart", "switch", False, "start the load at once (with --run-time: stop after it)",
         _on("ui")),
)

_GATE: tuple[Flag, ...] = (
    Flag("max-error-rate", "float", MAX_ERROR_RATE, "error gate of every level: fail (exit 1) if"
         " error_rate is above this (1: off)", _on("swarm"), min=0, max=1),
    Flag("slo", "str", (), "objective per level, repeatable: ttft_p95_ms<=500", _on("swarm"),
         multiple=True),
    Flag("require-steady", "switch", False, "fail (exit 1) if a level never settled",
         _on("swarm")),
)

_CAPACITY: tuple[Flag, ...] = (
    Flag("max-users", "int", 256, "capacity: the most users to probe (closed loop)",
         _on("capacity locust"), to_child=True, min=1),
    Flag("max-rate", "float", 100.0, "capacity: the highest --rate to probe (open loop)",
         _on("capacity locust"), to_child=True, min=0, min_open=True),
    Flag("precision", "float", 0.1, "capacity: stop once the bracket is this narrow (0.1: 10 %)",
         _on("capacity locust"), to_child=True, min=0, min_open=True, max=0.9),
    Flag("max-probes", "int", 12, "capacity: the most probes (levels) of one search",
         _on("capacity locust"), to_child=True, min=2, max=50),
    Flag("need", "float", None, "capacity: exit 0 if the capacity is at least this, else 1",
         _on("capacity"), min=0),
    Flag("capacity-slo", "str", None, "capacity: what every probe must hold, comma-separated"
         " (set by loadgen capacity)", _on("locust"), to_child=True),
)
# `loadgen capacity` also takes these flags of `loadgen swarm`: target, load, workload, InfluxDB
_CAPACITY_TAKES = frozenset(
    {f.name for f in (*_TARGET, *_WORKLOAD, *INFLUX_FLAGS)} | {
        "users", "spawn-rate", "step-time", "min-requests", "max-step-time", "warmup", "ramp",
        "rate", "max-concurrency", "results", "overwrite", "engine", "run-id", "max-error-rate",
        "slo",
    }
)


def _also_on(command: str, names: frozenset[str], flags: tuple[Flag, ...]) -> tuple[Flag, ...]:
    return tuple(
        dataclasses.replace(f, commands=f.commands | {command}) if f.name in names else f
        for f in flags
    )


FLAGS: tuple[Flag, ...] = _also_on(CAPACITY, _CAPACITY_TAKES, (
    *_TARGET, *_LOAD, *_WORKLOAD, *INFLUX_FLAGS, *_SCALE_OUT, *_SIDECAR, *_UI, *_GATE, *_CAPACITY
))
# fmt: on
FLAG: dict[str, Flag] = {f.name: f for f in FLAGS}


def flags_of(command: str) -> tuple[Flag, ...]:
    """The flags of one command (swarm, ui, capacity, locust, sidecar, replay), in table order."""
    return tuple(f for f in FLAGS if command in f.commands)


def value_of(values: Mapping[str, object], name: str) -> Value:
    """The typed value of flag `name` in a command's keyword arguments (`think_time`, ...)."""
    flag = FLAG[name]
    return flag.typed(values[flag.dest])


def seconds_of(values: Mapping[str, object], name: str) -> float:
    """The seconds of duration flag `name` in a command's keyword arguments ('2m' -> 120.0)."""
    value = value_of(values, name)
    if not isinstance(value, int | float):
        raise LoadgenError(f"--{name}: {value!r} is not a duration")
    return float(value)


def check_values(values: Mapping[str, object]) -> None:
    """Type- and range-check every flag present in `values`; LoadgenError on the first bad."""
    for flag in FLAGS:
        if flag.dest in values:
            flag.typed(values[flag.dest])


def unset(value: object) -> bool:
    """None, off, "" and () mean: not given (not passed on, no default shown)."""
    return value is None or value is False or value == "" or value == ()


def child_argv(values: Mapping[str, object]) -> list[str]:
    """The Locust child's arguments for every `to_child` flag set in `values` (never secrets)."""
    argv: list[str] = []
    for flag in FLAGS:
        if not flag.to_child or flag.secret or flag.dest not in values:
            continue
        value = flag.typed(values[flag.dest])
        if unset(value):
            continue
        argv += [flag.option] if flag.kind == "switch" else [flag.option, str(value)]
    return argv


def child_secrets(values: Mapping[str, object]) -> dict[str, str]:
    """The secrets set in `values`, as the Locust child's environment variables."""
    return {
        f.env_var: str(values[f.dest])
        for f in FLAGS
        if f.secret and f.to_child and f.dest in values and not unset(values[f.dest])
    }


def secret_env_vars() -> tuple[str, ...]:
    return tuple(f.env_var for f in FLAGS if f.secret)


_COMMANDS = (SWARM, UI, CAPACITY, LOCUST, SIDECAR, REPLAY)


def _range(flag: Flag) -> str:
    if flag.min is not None and flag.max is not None:
        return f"{flag.text(flag.min)}..{flag.text(flag.max)}"
    if flag.min is not None:
        bound = (">" if flag.min_open else ">=") + f" {flag.text(flag.min)}"
        return " \\| ".join((bound, *flag.words))
    return " \\| ".join(flag.choices)


def markdown(flags: Iterable[Flag] = FLAGS) -> str:
    """The table as Markdown (docs/swarm.md): flag, env, default, values, commands, meaning."""
    lines = [
        "| flag | env | default | values | commands | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in flags:
        default = "" if unset(f.default) else str(f.default)
        if f.kind == "duration" and isinstance(f.default, float):
            default = duration_text(f.default)
        commands = ", ".join(c for c in _COMMANDS if c in f.commands)
        cells = (f"`{f.option}`", f"`{f.env_var}`", default, _range(f), commands, f.help)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
