"""`loadgen capacity` against known answers: the calibrated simulator profiles, whose true
capacity for an objective the virtual-time runner computes (loadgen/sim/virtual.py).

    python bench/capacity_accuracy.py [--time-scale 0.25] [--cases vllm-ttft500,ollama-itl100]

For each case: the true capacity (virtual time, exact), then `loadgen capacity` against
`loadgen sim --profile P --time-scale S` (latency objectives scaled by S, so the answer in users
is the same), and the check that the answer lies within one precision step of the truth. Real
time: minutes per case (requests last seconds to tens of seconds, times S). Exit 1 if a case
misses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadgen.sim.profiles import load_profile
from loadgen.sim.virtual import LoopLatencies, true_capacity
from tests.fixtures.net import free_port, loadgen_cmd, running

PROMPT_TOKENS, OUTPUT_TOKENS = 128, 256  # the profiles' calibration workload (ignore_eos)
PRECISION = 0.1


@dataclass(frozen=True)
class Case:
    name: str
    profile: str
    metric: str  # a latency percentile in ms: scaled with the simulator's time
    threshold_ms: float
    start_users: int
    max_users: int
    step_time_s: float  # at time scale 1


CASES = {
    c.name: c
    for c in (
        Case("vllm-ttft500", "vllm-4090-llama8b", "ttft_p95_ms", 500, 16, 256, 60),
        Case("vllm-ttft200", "vllm-4090-llama8b", "ttft_p95_ms", 200, 16, 256, 60),
        Case("ollama-ttft500", "ollama-4090-llama8b", "ttft_p95_ms", 500, 8, 96, 240),
        Case("ollama-itl100", "ollama-4090-llama8b", "itl_p99_ms", 100, 4, 96, 240),
    )
}


def truth(case: Case) -> int:
    def holds(run: LoopLatencies) -> bool:
        value = getattr(run, case.metric)
        return value is not None and value <= case.threshold_ms

    profile = load_profile(case.profile)
    return true_capacity(profile, holds, PROMPT_TOKENS, OUTPUT_TOKENS, case.max_users, 240.0)


def measure(case: Case, scale: float, workdir: Path) -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = loadgen_cmd("sim", "--profile", case.profile, "--port", str(port))
    sim += ["--time-scale", f"{scale:g}"]
    results = workdir / case.name
    slo = f"{case.metric}<={case.threshold_ms * scale:g}"
    step_s = case.step_time_s * scale
    argv = loadgen_cmd(
        *("capacity", "--host", url, "--slo", slo, "--users", str(case.start_users)),
        *("--max-users", str(case.max_users), "--precision", f"{PRECISION:g}"),
        *("--step-time", f"{step_s:g}s", "--warmup", f"{step_s / 3:g}s"),
        *("--input-tokens", str(PROMPT_TOKENS), "--output-tokens", str(OUTPUT_TOKENS)),
        *("--ignore-eos", "--progress", "off", "--results", str(results)),
    )
    started = time.monotonic()
    with running(sim, ready_url=url + "/v1/models", log=workdir / f"{case.name}-sim.log"):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    print(proc.stdout, proc.stderr, sep="\n", flush=True)
    section = json.loads((results / "summary.json").read_text())["capacity"]
    return {"capacity": section["capacity"], "seconds": time.monotonic() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=0.25)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    rows, missed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            case = CASES[name]
            expected = truth(case)
            found = measure(case, args.time_scale, Path(tmp))
            got = float(found["capacity"])  # type: ignore[arg-type]
            ok = abs(got - expected) <= max(1.0, PRECISION * expected)
            missed += not ok
            rows.append((name, expected, got, ok, found["seconds"]))
    print(f"{'case':<16} {'truth':>6} {'found':>6}  within {PRECISION:.0%}  seconds")
    for name, expected, got, ok, seconds in rows:
        print(f"{name:<16} {expected:>6} {got:>6g}  {'yes' if ok else 'NO':<10} {seconds:.0f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
