"""CPU cost per streamed token of each `--client`, side by side, against `loadgen sim` (fast).

    python bench/client_cost.py [--users 8] [--run-time 10] [--output-tokens 256]

Starts one simulator, then runs Locust once per transport with the same load, and measures the
Locust process's CPU time between test_start and test_stop (startup excluded). Prints CPU µs
per output token, tokens/s and TTFT p50 for each, and the ratio openai / fast. The transport
that costs less per token, at equal timing, is the default `--client`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.net import free_port, loadgen_cmd, running  # noqa: E402

CPU_PROBE = """
import json, os, time
from locust import events
from loadgen.swarm.locustfile import Chat  # noqa: F401

_cpu = {}
events.test_start.add_listener(lambda **_: _cpu.setdefault("start", time.process_time()))

def _stop(**_):
    with open(os.environ["COST_OUT"], "w") as out:
        json.dump({"cpu_s": time.process_time() - _cpu["start"]}, out)

events.test_stop.add_listener(_stop)
"""


def run_client(client: str, host: str, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """One headless Locust run with `client`; its CPU, tokens and TTFT."""
    probe = work / "probe_locustfile.py"
    probe.write_text(CPU_PROBE)
    results, out = work / f"results-{client}", work / f"cpu-{client}.json"
    cmd = [sys.executable, "-m", "locust", "-f", str(probe), "--headless", "--host", host]
    cmd += ["-u", str(args.users), "-r", str(args.users), "-t", f"{args.run_time}s"]
    cmd += ["--client", client, "--output-tokens", str(args.output_tokens), "--ignore-eos"]
    cmd += ["--results", str(results), "--progress", "off", "--only-summary", "--skip-log-setup"]
    env = {**os.environ, "COST_OUT": str(out), "LOADGEN_CHILD": "1"}
    # Locust exits 1 when any request failed; failures are counted below instead.
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, timeout=600)
    records = [json.loads(x) for x in (results / "requests.jsonl").read_text().splitlines()]
    ok = [r for r in records if r["ok"]]
    tokens = sum(r["n_out"] for r in ok)
    ttft_ms = [(r["t_first_ns"] - r["t_send_ns"]) / 1e6 for r in ok]
    cpu_s = float(json.loads(out.read_text())["cpu_s"])
    return {
        "cpu_us_per_token": 1e6 * cpu_s / max(tokens, 1),
        "tokens": tokens,
        "tok_s": tokens / args.run_time,
        "ttft_p50_ms": statistics.median(ttft_ms) if ttft_ms else float("nan"),
        "errors": len(records) - len(ok),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--run-time", type=int, default=10)
    parser.add_argument("--output-tokens", type=int, default=256)
    args = parser.parse_args()
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(
            loadgen_cmd("sim", "--profile", "fast", "--port", str(port)),
            ready_url=host + "/v1/models",
        ),
    ):
        rows = {c: run_client(c, host, Path(tmp), args) for c in ("fast", "openai")}
    header = ("client", "CPU µs/token", "tokens", "tok/s", "TTFT p50 ms", "errors")
    print("{:8} {:>13} {:>8} {:>8} {:>12} {:>7}".format(*header))
    for client, row in rows.items():
        print(
            f"{client:8} {row['cpu_us_per_token']:13.1f} {row['tokens']:8.0f} {row['tok_s']:8.0f}"
            f" {row['ttft_p50_ms']:12.1f} {row['errors']:7.0f}"
        )
    ratio = rows["openai"]["cpu_us_per_token"] / rows["fast"]["cpu_us_per_token"]
    print(f"openai / fast CPU per token: {ratio:.2f}x")


if __name__ == "__main__":
    main()
