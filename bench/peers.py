"""loadgen beside its peers (vllm bench serve, guidellm) against one simulator and its truth.

    python bench/peers.py [--scenarios fast:16,fast:128,paced:64,paced:256,paced:512]
                          [--clients loadgen,vllm,guidellm] [--output-tokens 256] [--rounds 2]

For each scenario (simulator profile : concurrent streams), each client in turn runs the same
bounded closed-loop load against a fresh `loadgen sim --truth`: the same streams, prompt and
output tokens (ignore_eos) and number of requests. Prints per client the CPU of its whole
process tree per 1,000 output tokens over the load window (its first request's arrival to its
last request's end, from the truth file), the ratio to vllm bench's, and, joined request by
request with the truth, its TTFT error and its read lag (p50/p99), and the simulator's own step
lateness p99 (/sim/stats: whether it kept its pace). docs/performance.md has the
method and the latest table. A client that is not installed is skipped with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peers_clients import CLIENTS, Client, Load, baseline_client  # noqa: E402
from bench.peers_join import Figures, Row, figures, join_by_id, tree_total  # noqa: E402
from loadgen.errors import LoadgenError  # noqa: E402
from loadgen.sim.child import sim_child, stop_group  # noqa: E402

DEFAULT_SCENARIOS = "fast:16,fast:128,paced:64,paced:256,paced:512"
SAMPLE_S = 0.02  # CPU of the known pids
TREE_S = 0.5  # look for new children


class TreeCpu:
    """Samples the cumulative CPU (user + system) of a process and all its descendants, as
    (perf_counter_ns, CPU s) pairs; a child that exits keeps its last reading."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[int, float]] = []
        self._procs: dict[int, psutil.Process] = {pid: self.root}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TreeCpu:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_tree = 0.0
        while True:
            now = time.perf_counter()
            if now >= next_tree:
                self._find_children()
                next_tree = now + TREE_S
            self.samples.append((time.perf_counter_ns(), tree_total(self._last, self._read())))
            if self._stop.wait(SAMPLE_S):
                self.samples.append((time.perf_counter_ns(), tree_total(self._last, [])))
                return

    def _find_children(self) -> None:
        try:
            for child in self.root.children(recursive=True):
                self._procs.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def _read(self) -> list[tuple[int, float]]:
        readings = []
        for pid, proc in list(self._procs.items()):
            try:
                t = proc.cpu_times()
            except psutil.Error:
                del self._procs[pid]
                continue
            readings.append((pid, t.user + t.system))
        return readings


@dataclass(frozen=True)
class Outcome:
    """One client's run: its figures, or why there are none."""

    figures: Figures | None
    note: str = ""
    sim_late_p99_ms: float | None = None  # the simulator's own step (token) lateness


def sim_late_p99_ms(url: str) -> float | None:
    """/sim/stats' step-timing p99: whether the simulator itself kept its pace."""
    try:
        with urllib.request.urlopen(url + "/sim/stats", timeout=10) as resp:
            return float(json.loads(resp.read())["step_timing"]["late_p99_ms"])
    except (OSError, ValueError, KeyError):
        return None


def run_client(client: Client, profile_args: list[str], load: Load, work: Path) -> Outcome:
    """One client against a fresh simulator; the truth joined to its records."""
    work.mkdir(parents=True)
    truth = work / "truth.jsonl"
    log = work / "client.log"
    with sim_child(*profile_args, "--truth", str(truth)) as sim:
        cmd, env = client.command(sim.url, load, work)
        env = {**os.environ, "PYTHONPATH": str(ROOT), **env}  # this checkout's loadgen
        wall_minus_mono_ns = time.time_ns() - time.perf_counter_ns()
        with log.open("w") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, cwd=work,
            )  # fmt: skip
            cpu = TreeCpu(proc.pid).start()
            try:
                proc.wait(load.timeout_s)
            except subprocess.TimeoutExpired:
                pass
            finally:
                cpu.stop()
                stop_group(proc, grace_s=5)
        late_ms = sim_late_p99_ms(sim.url)
    rows: list[Row] = [json.loads(x) for x in truth.read_text().splitlines() if x.strip()]
    seen = client.read(work, wall_minus_mono_ns)
    if not rows or not seen:
        last = log.read_text().strip().splitlines()[-1:] if log.is_file() else []
        return Outcome(None, f"no requests joined (exit {proc.returncode}; {''.join(last)[:120]})")
    pairs = join_by_id(seen, rows)
    return Outcome(figures(rows, pairs, cpu.samples), sim_late_p99_ms=late_ms)


def _pair(value: tuple[float, float] | None) -> str:
    return f"{value[0]:7.1f} {value[1]:7.1f}" if value else f"{'-':>7} {'-':>7}"


def run_safely(client: Client, profile_args: list[str], load: Load, work: Path) -> Outcome:
    """run_client, with a simulator that would not start or a client that could not be
    watched reported as one line in the table."""
    try:
        return run_client(client, profile_args, load, work)
    except (LoadgenError, OSError, psutil.Error) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:160])


def _late(value: float | None) -> str:
    return f"{value:15.1f}" if value is not None else f"{'-':>15}"


def behind(late_p99_ms: float | None, tok_s: float | None) -> bool:
    """Whether the simulator's tokens were, at p99, later than one interval of its pace: it
    did not keep its own pace, so that row's timing is partly the machine's."""
    return late_p99_ms is not None and tok_s is not None and late_p99_ms > 1e3 / tok_s


def print_scenario(sc: Scenario, load: Load, outcomes: dict[str, Outcome]) -> None:
    print(f"\n{sc.label}: {load.streams} streams, {load.requests} requests of "
          f"{load.input_tokens}->{load.output_tokens} tokens (ignore_eos)")  # fmt: skip
    base = outcomes.get("vllm")
    base_cost = base.figures.cpu_ms_per_1k_tokens if base and base.figures else None
    head = ("client", "reqs", "joined", "tokens", "win s", "CPU s", "ms/1k tok", "x vllm")
    print("{:24} {:>5} {:>6} {:>7} {:>6} {:>6} {:>9} {:>6}".format(*head), end="")
    print("  TTFT err p50/p99 ms  read lag p50/p99 ms  sim late p99 ms")
    for key, outcome in outcomes.items():
        label = CLIENTS[key].name
        f = outcome.figures
        if f is None:
            print(f"{label:24} skipped: {outcome.note}")
            continue
        cost = f.cpu_ms_per_1k_tokens
        ratio = f"{cost / base_cost:6.2f}" if base_cost else f"{'-':>6}"
        print(f"{label:24} {f.requests:5d} {f.joined:6d} {f.tokens:7d} {f.window_s:6.1f} "
              f"{f.cpu_s:6.2f} {cost:9.1f} {ratio}  {_pair(f.ttft_err_ms)}      "
              f"{_pair(f.read_lag_ms)}  {_late(outcome.sim_late_p99_ms)}", end="")  # fmt: skip
        print(" !" if behind(outcome.sim_late_p99_ms, sc.tok_s) else "")
    if any(o.figures and behind(o.sim_late_p99_ms, sc.tok_s) for o in outcomes.values()):
        interval_ms = 1e3 / (sc.tok_s or 1)
        print(f"! the simulator fell behind its pace (token lateness p99 > {interval_ms:.0f} ms,"
              " one interval): that row's timing is partly the machine's")  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """A simulator profile, the concurrent streams, and the rate per stream (None: the
    profile's own)."""

    profile: str
    streams: int
    tok_s: float | None

    @property
    def label(self) -> str:
        rate = f"@{self.tok_s:g}tok/s" if self.tok_s is not None else ""
        return f"{self.profile}{rate}:{self.streams}"


def parse_scenarios(text: str, paced_tok_s: float) -> list[Scenario] | None:
    """'fast:16,paced:1000:20' -> scenarios (paced without a rate runs at `paced_tok_s`);
    None for anything else."""
    out = []
    for spec in filter(None, (part.strip() for part in text.split(","))):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
            return None
        try:
            tok_s = float(parts[2]) if len(parts) == 3 else None
        except ValueError:
            return None
        if int(parts[1]) < 1 or (tok_s is not None and not 0 < tok_s < 1e6):
            return None
        if tok_s is None and parts[0] == "paced":
            tok_s = paced_tok_s
        out.append(Scenario(parts[0], int(parts[1]), tok_s))
    return out or None


def scenario_load(streams: int, args: argparse.Namespace) -> Load:
    requests = max(args.rounds * streams, args.min_requests)
    return Load(streams, requests, args.input_tokens, args.output_tokens, args.timeout_s)


def machine_line() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU")  # fmt: skip
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, {model}; load average {load1:.2f} (1 min), {load5:.2f} (5 min)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument(
        "--scenarios",
        default=DEFAULT_SCENARIOS,
        help="profile:streams[:tok/s per stream], comma-separated, e.g. paced:1000:20"
        " [%(default)s]",
    )
    parser.add_argument(
        "--clients",
        default="loadgen,vllm,guidellm",
        help="of " + ",".join(CLIENTS) + " [%(default)s]",
    )
    parser.add_argument(
        "--paced-tok-s",
        type=float,
        default=71.0,
        help="the paced profile's rate per stream where a scenario names none [%(default)s]",
    )
    parser.add_argument("--input-tokens", type=int, default=128)
    parser.add_argument("--output-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="requests per stream [%(default)s]")
    parser.add_argument(
        "--min-requests",
        type=int,
        default=256,
        help="at least this many requests per client [%(default)s]",
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=180.0,
        help="the longest one client may run (start-up included) [%(default)s]",
    )
    parser.add_argument("--keep", type=Path, help="keep every run's files under this folder")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="also run loadgen from this checkout (client key 'baseline', run first)",
    )
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = [k.strip() for k in args.clients.split(",") if k.strip()]
    if args.baseline_tree is not None:
        CLIENTS["baseline"] = baseline_client(args.baseline_tree.resolve())
        keys.insert(0, "baseline")
    unknown = [k for k in keys if k not in CLIENTS]
    scenarios = parse_scenarios(args.scenarios, args.paced_tok_s)
    if unknown or scenarios is None:
        print(f"peers: bad --clients or --scenarios ({args.clients}; {args.scenarios})")
        return 2
    print(f"peers: {machine_line()}")
    missing = {k: why for k in keys if (why := CLIENTS[k].missing()) is not None}
    for key, why in missing.items():
        print(f"peers: {CLIENTS[key].name} skipped: {why}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for sc in scenarios:
            load = scenario_load(sc.streams, args)
            sim_args = ["--profile", sc.profile]
            if sc.tok_s is not None:
                sim_args += ["--stream-tok-s", f"{sc.tok_s:g}"]
            outcomes = {
                k: run_safely(CLIENTS[k], sim_args, load, base / f"{sc.label}-{k}")
                for k in keys
                if k not in missing
            }
            print_scenario(sc, load, outcomes)
    print(f"\npeers: {time.monotonic() - started:.0f} s; after: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
