"""Print the reference table beside what the simulator's calibrated profiles measure over HTTP.

Workload (the calibration contract, also in docs/simulator.md): closed-loop users with no think
time, each request a chat prompt of 128 tokens asking for exactly 256 output tokens
(`max_tokens` = 256 with `ignore_eos`), streamed. Users start evenly over half a request cycle.
Aggregate tok/s = output tokens that arrived in the window / window; TTFT = mean over requests
whose first token arrived in it. Each level runs its own server at a time scale (0.1 = ten times
faster than real time) chosen so that its shortest step lasts about 50 real ms (or real time),
and the figures are rescaled to real time; smaller scales would inflate the HTTP TTFT (the
client and server loops lag by a few real ms, multiplied by 1/scale). The "model" columns are
the same engine model run in virtual time (no sockets, no clock): what the server would show on
an idle machine.

    python bench/sim_calibration.py [--time-scale S] [--profiles ollama-4090-llama8b,...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sim_closedloop import Workload, closed_loop
from loadgen.reference import REFERENCE as REFERENCE_TABLE
from loadgen.reference import USERS
from loadgen.sim.child import sim_process
from loadgen.sim.profiles import load_profile
from loadgen.sim.virtual import closed_loop as virtual_loop

PROMPT_TOKENS, OUTPUT_TOKENS = 128, 256
# users: (aggregate output tok/s, TTFT ms or None) -- RTX 4090, Llama 3.1 8B
REFERENCE = {
    name: {u: (ref.tok_s[u], ref.ttft_ms.get(u)) for u in USERS}
    for name, ref in sorted(REFERENCE_TABLE.items())
}


def _err(measured: float, ref: float | None) -> str:
    return f"{measured / ref - 1:+5.0%}" if ref else "     "


def auto_scale(name: str, users: int) -> float:
    """A time scale that keeps the shortest step near 50 real ms (loop lag stays a few %)."""
    p = load_profile(name)
    step_ms = p.step_base_ms + p.step_per_seq_ms * min(users, p.max_running)
    return max(0.05, min(1.0, 50.0 / step_ms))


def measure_level(name: str, users: int, scale: float | None, window_cycles: float) -> str:
    """One row: the reference, the model in virtual time, and the HTTP figures."""
    profile = load_profile(name)
    scale = scale or auto_scale(name, users)
    api = "ollama" if profile.engine == "ollama" else "openai"
    work = Workload(PROMPT_TOKENS, OUTPUT_TOKENS, api=api, model=profile.model)
    ref_tok_s, ref_ttft = REFERENCE[name][users]
    cycle_s = users * OUTPUT_TOKENS / ref_tok_s  # one request per user, in simulated seconds
    ramp_s, warmup_s = cycle_s / 2, cycle_s * 1.5 + 1
    window_s = max(cycle_s * window_cycles, 10.0)
    model = virtual_loop(profile, users, PROMPT_TOKENS, OUTPUT_TOKENS, 300.0, warmup_s, ramp_s)
    with sim_process("--profile", name, "--time-scale", f"{scale:.4f}") as (url, _):
        stats = asyncio.run(
            closed_loop(url, users, work, warmup_s * scale, window_s * scale, ramp_s * scale)
        )
    tok_s, ttft = stats.output_tok_s * scale, stats.ttft_mean_ms / scale
    ttft_ref = f"{ref_ttft:6.0f}" if ref_ttft else "     -"
    return (
        f"{name:20} {users:5} {scale:5.2f} | {ref_tok_s:6.0f} {model.output_tok_s:7.0f} "
        f"{tok_s:7.0f} {_err(tok_s, ref_tok_s)} | {ttft_ref} {model.ttft_mean_ms:7.0f} "
        f"{ttft:7.0f} {_err(ttft, ref_ttft)} | {len(stats.ttft_ms):5} {stats.failures:4}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="fixed time scale (default: per level, shortest step ~50 real ms)",
    )
    parser.add_argument(
        "--window-cycles",
        type=float,
        default=1.0,
        help="measurement window in request cycles (min 10 simulated s)",
    )
    parser.add_argument("--profiles", default=",".join(REFERENCE))
    args = parser.parse_args()
    print(
        f"workload: closed loop, prompt {PROMPT_TOKENS} tokens, {OUTPUT_TOKENS} output tokens "
        f"(ignore_eos), streamed; time scale {args.time_scale or 'auto'}"
    )
    print(
        f"{'profile':20} {'users':>5} {'scale':>5} | {'tok/s: ref':>10} {'model':>7} {'http':>7} "
        f"{'err':>5} | "
        f"{'TTFT ms: ref':>12} {'model':>7} {'http':>7} {'err':>5} | {'reqs':>5} {'fail':>4}"
    )
    for name in args.profiles.split(","):
        for users in USERS:
            print(measure_level(name, users, args.time_scale, args.window_cycles), flush=True)


if __name__ == "__main__":
    main()
