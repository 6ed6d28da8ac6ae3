"""Is a level's steady window steady? Checked against the simulator's own truth.

Runs `loadgen swarm` against a simulator that writes its truth file (one row per request, as
the server saw it), then, for the last level's steady window (from summary.json):
- TTFT p95/p50 from the truth rows of the requests that ended in the window (server side:
  arrival to first token). A synchronized population shows here: prefills of a wave of users
  land in one engine step. PASS under 2x.
- loadgen's output tok/s of that window against the virtual-time runner's steady value for the
  same profile, users and workload (loadgen/sim/virtual.py closed_loop: no sockets, no clock).
  PASS within 5 %.
- the truth TTFT p50 against the virtual-time runner's mean TTFT: a population that starts as
  one wave and stays in step (fixed-length answers keep it so) has every TTFT alike, so its
  p95/p50 stays low while each request waits for a wave of prefills. PASS under 2x.
Workload: the simulator's calibration contract, 128 prompt tokens and exactly 256 output
tokens (--ignore-eos). `--time-scale` runs the simulator faster than real time (0.5 = twice as
fast; tok/s is rescaled); `--ramp 0` shows the burst of the old default.

    python bench/steady_state.py [--users 1,10,50] [--step-time 60s] [--warmup 10s]
        [--ramp 0] [--time-scale 1] [--profile vllm-4090-llama8b]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadgen.level_summary import LevelSummary
from loadgen.results import read_summary
from loadgen.sim.child import sim_child
from loadgen.sim.profiles import load_profile
from loadgen.sim.virtual import closed_loop
from loadgen.stats import nearest_rank

PROMPT_TOKENS, OUTPUT_TOKENS = 128, 256
MAX_TTFT_RATIO = 2.0  # truth TTFT p95 / p50 in the steady window
MAX_TOK_S_ERROR = 0.05  # loadgen's window tok/s against the virtual-time runner's
MAX_TTFT_EXCESS = 2.0  # truth TTFT p50 / the virtual-time runner's mean TTFT
WORKLOAD = (
    "--input-tokens", str(PROMPT_TOKENS), "--output-tokens", str(OUTPUT_TOKENS), "--ignore-eos",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SteadyCheck:
    """One level's figures against the truth file and the virtual-time runner."""

    users: int
    window_s: float
    truth_requests: int  # truth rows of successful requests that ended in the window
    ttft_p50_ms: float
    ttft_p95_ms: float
    tok_s: float  # loadgen's output tok/s of the window (real-time seconds)
    virtual_tok_s: float  # the virtual-time runner's, rescaled to the simulator's time scale
    virtual_ttft_ms: float  # the virtual-time runner's mean TTFT, rescaled likewise

    @property
    def ttft_ratio(self) -> float:
        return self.ttft_p95_ms / self.ttft_p50_ms

    @property
    def tok_s_error(self) -> float:
        return self.tok_s / self.virtual_tok_s - 1

    @property
    def ttft_excess(self) -> float:
        return self.ttft_p50_ms / self.virtual_ttft_ms

    @property
    def passed(self) -> bool:
        return (
            self.ttft_ratio < MAX_TTFT_RATIO
            and abs(self.tok_s_error) <= MAX_TOK_S_ERROR
            and self.ttft_excess < MAX_TTFT_EXCESS
        )

    def lines(self) -> list[str]:
        ratio_ok = "PASS" if self.ttft_ratio < MAX_TTFT_RATIO else "FAIL"
        tok_ok = "PASS" if abs(self.tok_s_error) <= MAX_TOK_S_ERROR else "FAIL"
        excess_ok = "PASS" if self.ttft_excess < MAX_TTFT_EXCESS else "FAIL"
        return [
            f"level {self.users} users: steady window {self.window_s:.1f} s,"
            f" {self.truth_requests} requests in the truth file",
            f"  truth TTFT p50 {self.ttft_p50_ms:.0f} ms, p95 {self.ttft_p95_ms:.0f} ms:"
            f" p95/p50 {self.ttft_ratio:.2f}x (< {MAX_TTFT_RATIO:g}x) {ratio_ok}",
            f"  output tok/s {self.tok_s:.1f} against the virtual-time runner's"
            f" {self.virtual_tok_s:.1f}: {self.tok_s_error:+.1%}"
            f" (within {MAX_TOK_S_ERROR:.0%}) {tok_ok}",
            f"  truth TTFT p50 against the virtual-time runner's mean {self.virtual_ttft_ms:.0f}"
            f" ms: {self.ttft_excess:.2f}x (< {MAX_TTFT_EXCESS:g}x) {excess_ok}",
        ]


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _end_unix_ns(row: dict[str, Any]) -> int:
    """When the server finished the request, on the wall clock (its rows time it monotonic)."""
    return int(row["wall_arrival_unix_ns"]) + int(row["end_mono_ns"]) - int(row["arrival_mono_ns"])


def window_ttft_ms(rows: list[dict[str, Any]], start_ns: int, end_ns: int) -> list[float]:
    """Truth TTFT (arrival to first token, ms) of the successful requests that ended in the
    window, sorted."""
    ttft = [
        (int(r["first_token_mono_ns"]) - int(r["arrival_mono_ns"])) / 1e6
        for r in rows
        if r.get("status") == 200
        and not r.get("fault")
        and not r.get("error")
        and r.get("first_token_mono_ns") is not None
        and r.get("end_mono_ns") is not None
        and start_ns <= _end_unix_ns(r) < end_ns
    ]
    return sorted(ttft)


def check_level(
    level: LevelSummary, rows: list[dict[str, Any]], profile: str, time_scale: float
) -> SteadyCheck:
    """The level's steady window against the truth rows and the virtual-time runner."""
    start, end = level.window_start_unix_ns, level.window_end_unix_ns
    if start is None or end is None:
        raise SystemExit(f"level {level.index} has no steady window")
    ttft = window_ttft_ms(rows, start, end)
    if not ttft:
        raise SystemExit(f"no truth row ended in level {level.index}'s window")
    virtual = closed_loop(load_profile(profile), level.users, PROMPT_TOKENS, OUTPUT_TOKENS, 300.0)
    p50, p95 = nearest_rank(ttft, 50), nearest_rank(ttft, 95)
    assert p50 is not None and p95 is not None  # ttft is not empty
    return SteadyCheck(
        users=level.users,
        window_s=level.window_s,
        truth_requests=len(ttft),
        ttft_p50_ms=p50,
        ttft_p95_ms=p95,
        tok_s=level.output_tok_s,
        virtual_tok_s=virtual.output_tok_s / time_scale,
        virtual_ttft_ms=virtual.ttft_mean_ms * time_scale,
    )


def run(args: argparse.Namespace, workdir: Path) -> SteadyCheck:
    """Start the simulator, run the swarm against it, check its last level."""
    truth = workdir / "truth.jsonl"
    results = workdir / "run"
    sim_args = ["--profile", args.profile, "--truth", str(truth)]
    sim_args += ["--time-scale", str(args.time_scale)]
    with sim_child(*sim_args) as sim:
        cmd = [sys.executable, "-m", "loadgen", "swarm", "--host", sim.url, "--results"]
        cmd += [str(results), "--users", args.users, "--step-time", args.step_time]
        cmd += ["--warmup", args.warmup, "--interval", args.interval, "--progress", "off"]
        cmd += WORKLOAD
        if args.ramp is not None:
            cmd += ["--ramp", args.ramp]
        done = subprocess.run(cmd, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"loadgen swarm exited {done.returncode}")
    summary = read_summary(results)
    return check_level(summary.levels[-1], read_truth(truth), args.profile, args.time_scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="vllm-4090-llama8b")
    parser.add_argument("--users", default="1,10,50")
    parser.add_argument("--step-time", default="60s")
    parser.add_argument("--warmup", default="10s")
    parser.add_argument("--ramp", default=None, help="loadgen's --ramp (default: automatic)")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--interval", default="5s", help="loadgen's --interval (steady rule)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    for line in result.lines():
        print(line)
    print("PASS" if result.passed else "FAIL")
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
