"""How many streaming users one Locust worker process holds, and throughput with 1 vs 2 processes.

    python bench/worker_capacity.py [--profile vllm-4090-llama8b] [--levels 16,64,...]
        [--step-time 8] [--limit-ms 5] [--users 64] [--run-time 12]

Part 1: one process walks the levels against `loadgen sim --profile P --truth FILE` (default:
the vLLM/4090 profile, so each stream runs at a real engine's pace); each request's client
TTFT stamp is joined on x-request-id (a UUID of `<worker>-<seq>`) with the simulator's truth
(both CLOCK_MONOTONIC on this host). The error |t_first − first_token| grows once the
process's event loop falls behind. Capacity = the largest level, walking up, whose p95 error
is within --limit-ms (the median is printed too). Part 2: the generator as the bottleneck
(`fast` profile: tokens as fast as the loop turns), --processes 1 and 2 side by side (output
tok/s, req/s) and the ratio 2/1. Bounded: about three minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadgen.swarm.exchange import request_id  # noqa: E402
from tests.fixtures.net import free_port, loadgen_cmd, running  # noqa: E402

RUN_TIMEOUT_S = 300


def swarm(host: str, results: Path, *args: str) -> dict[str, Any]:
    """One `loadgen swarm` against `host`; its summary.json (exit 1 allowed: saturation)."""
    cmd = loadgen_cmd("swarm", "--host", host, "--results", str(results), "--progress", "off")
    cmd += ["--allow-saturated", "--interval", "1s", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADGEN_")}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode not in (0, 1):
        raise SystemExit(f"loadgen swarm failed ({done.returncode}): {done.stderr.strip()}")
    summary: dict[str, Any] = json.loads((results / "summary.json").read_text())
    return summary


def ttft_errors_ms(results: Path, truth: Path) -> dict[int, list[float]]:
    """|client t_first − simulator first_token| per level (stage_index), every first token."""
    first_token = {}
    for line in truth.read_text().splitlines():
        row = json.loads(line)
        if row.get("first_token_mono_ns"):
            first_token[row["request_id"]] = row["first_token_mono_ns"]
    errors: dict[int, list[float]] = defaultdict(list)
    for line in (results / "requests.jsonl").read_text().splitlines():
        r = json.loads(line)
        key = request_id(r["worker"], r["seq"])
        if r["t_first_ns"] and key in first_token:  # a stream cut off at the end counts too
            errors[r["stage_index"]].append(abs(r["t_first_ns"] - first_token[key]) / 1e6)
    return errors


def capacity(args: argparse.Namespace, work: Path) -> None:
    truth = work / "truth.jsonl"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = loadgen_cmd("sim", "--profile", args.profile, "--port", str(port), "--truth", str(truth))
    with running(sim, ready_url=url + "/health", log=work / "sim-truth.log"):
        summary = swarm(
            url, work / "capacity", "--users", args.levels, "--step-time", f"{args.step_time}s",
            "--warmup", "1s", "--output-tokens", str(args.output_tokens), "--ignore-eos",
        )  # fmt: skip
    errors = ttft_errors_ms(work / "capacity", truth)
    print(f"one worker process vs `sim --profile {args.profile}`: TTFT error against ground truth")
    print(f"{'users':>6} {'requests':>9} {'err p50 ms':>11} {'err p95 ms':>11} {'out tok/s':>10}")
    held = 0
    by_users = {lv["users"]: lv for lv in summary["levels"]}
    for index, users in enumerate(int(u) for u in args.levels.split(",")):
        values = errors.get(index, [])
        if not values:
            print(f"{users:>6} {'-':>9}")
            continue
        p50, p95 = float(np.percentile(values, 50)), float(np.percentile(values, 95))
        tok_s = by_users.get(users, {}).get("output_tok_s") or 0.0
        print(f"{users:>6} {len(values):>9} {p50:>11.2f} {p95:>11.2f} {tok_s:>10.0f}")
        if p95 <= args.limit_ms and held == index:
            held = index + 1
    levels = [int(u) for u in args.levels.split(",")]
    verdict = f"{levels[held - 1]}" if held else "fewer than " + str(levels[0])
    if held == len(levels):
        verdict = f"at least {levels[-1]} (every level passed: raise --levels)"
    print(f"capacity: one worker process holds {verdict} streaming users within {args.limit_ms} ms")
    for name, health in summary.get("generator", {}).get("workers", {}).items():
        print(
            f"  {name}: CPU max {health['cpu_max_pct']}%, loop lag p99"
            f" {health['loop_lag_p99_ms']} ms, max {health['loop_lag_max_ms']} ms"
        )


def scaling(args: argparse.Namespace, work: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = loadgen_cmd("sim", "--profile", "fast", "--port", str(port))
    rows = {}  # the generator is the bottleneck here: the fast sim streams without delays
    with running(sim, ready_url=url + "/health", log=work / "sim.log"):
        for processes in (1, 2):
            summary = swarm(
                url, work / f"p{processes}", "--processes", str(processes),
                "--users", str(args.users), "--run-time", f"{args.run_time}s",
                "--warmup", f"{args.run_time / 6:.2f}s",
                "--output-tokens", str(args.output_tokens), "--ignore-eos",
            )  # fmt: skip
            rows[processes] = summary["levels"][0]
    one, two = rows[1], rows[2]
    print(f"\nthroughput, {args.users} users, same simulator, --processes 1 vs 2 (2-core machine)")
    print(f"{'':>16} {'1 process':>10} {'2 processes':>12} {'ratio':>6}")
    for key, label in (("output_tok_s", "output tok/s"), ("req_s", "req/s")):
        ratio = two[key] / one[key] if one[key] else float("nan")
        print(f"{label:>16} {one[key]:>10.0f} {two[key]:>12.0f} {ratio:>6.2f}")
    for key, label in (("ttft_p50_ms", "TTFT p50 ms"), ("ttft_p95_ms", "TTFT p95 ms")):
        print(f"{label:>16} {one[key]:>10.1f} {two[key]:>12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="vllm-4090-llama8b", help="part 1: sim profile")
    parser.add_argument("--levels", default="16,64,128,256,512")
    parser.add_argument("--step-time", type=float, default=8.0)
    parser.add_argument("--limit-ms", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=64, help="part 2: users")
    parser.add_argument("--run-time", type=float, default=12.0, help="part 2: seconds per run")
    parser.add_argument("--output-tokens", type=int, default=32)
    args = parser.parse_args()
    load_1m = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load_1m:.1f} (other processes share them)\n")
    with tempfile.TemporaryDirectory(prefix="worker-capacity-") as tmp:
        capacity(args, Path(tmp))
        scaling(args, Path(tmp))


if __name__ == "__main__":
    main()
