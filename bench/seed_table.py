"""Run the README's main command against both calibrated profiles and print ours beside the
reference table (RTX 4090, Llama 3.1 8B), cell by cell: tok/s at 1/10/50 users, TTFT mean at 1
and 50 users, VRAM idle and peak, each with its ratio and PASS/FAIL (within ±15 %).

The command and the figures come from loadgen/reference.py, the one place the README's command
(tests/unit/test_reference.py checks it) and the reference live. Exit 1 if any cell is off by
more than 15 %. Each profile's run lands in DIR/PROFILE (replaced); `--no-run` only compares
the runs already there. Minutes per profile: run it in the background.

    python bench/seed_table.py [--dir results/seed-table] [--profiles vllm-4090-llama8b,...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadgen.reference import HEADER, REFERENCE, compare, format_cells, measured
from loadgen.reference import command as reference_command
from loadgen.results import read_summary
from loadgen.summary import RunSummary

ROOT = Path(__file__).resolve().parents[1]


def run(profile: str, results: Path) -> int:
    """The README's command against `profile`, its results in `results`; its exit code."""
    shutil.rmtree(results, ignore_errors=True)
    argv = [*reference_command(profile), "--results", str(results), "--progress", "lines"]
    print("$", " ".join(argv), flush=True)
    # This checkout's loadgen, whatever another install maps the package to.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(argv, check=False, env={**os.environ, "PYTHONPATH": path}).returncode


def run_notes(profile: str, summary: RunSummary) -> list[str]:
    """The run's own verdicts: the load generator (saturated or not, peak CPU and loop lag),
    and each level's window (its length, requests and whether it settled)."""
    verdict = summary.generator
    if verdict is None:
        notes = [f"{profile}: no generator verdict"]
    else:
        cpu = max((w.cpu_max_pct for w in verdict.workers.values()), default=0.0)
        lag = max((w.loop_lag_p99_ms or 0.0 for w in verdict.workers.values()), default=0.0)
        state = "SATURATED" if verdict.saturated else "not saturated"
        notes = [f"{profile}: load generator {state} (CPU max {cpu:.0f} %, lag p99 {lag:.0f} ms)"]
    for lv in summary.levels:
        settled = getattr(lv, "steady", None)  # None: a run from before steady windows
        reason = getattr(lv, "steady_reason", "")
        steady = {True: "steady", False: "NOT steady", None: "steadiness not judged"}[settled]
        notes.append(
            f"{profile}: {lv.users} users: window {lv.window_s:.0f} s, {lv.requests} requests,"
            f" {steady}" + (f" ({reason})" if reason else "")
        )
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("results/seed-table"))
    parser.add_argument("--profiles", default=",".join(REFERENCE))
    parser.add_argument("--no-run", action="store_true", help="compare the runs already in DIR")
    args = parser.parse_args()
    profiles = args.profiles.split(",")
    exit_codes = {}
    for profile in profiles:
        if not args.no_run:
            exit_codes[profile] = run(profile, args.dir / profile)
    print()
    print(HEADER)
    failed = 0
    notes = []
    for profile in profiles:
        summary = read_summary(args.dir / profile)
        cells = compare(REFERENCE[profile], measured(summary.levels))
        print("\n".join(format_cells(profile, cells)))
        failed += sum(not c.passed for c in cells)
        notes += run_notes(profile, summary)
        if profile in exit_codes:
            notes.append(f"{profile}: loadgen swarm exited {exit_codes[profile]}")
    print()
    print("\n".join(notes))
    print(f"{failed} cell(s) off by more than 15 %" if failed else "every cell within 15 %")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
