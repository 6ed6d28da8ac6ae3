"""The sidecar's own CPU cost at 1 Hz and 10 Hz, measured side by side on this host.

Starts `loadgen sidecar` as a real process for each rate (sampling this script's own process,
plus NVML where there is a GPU and an engine URL if given), waits for its first sample so
start-up imports are not counted, then reads its CPU time over a fixed window.

    python bench/sidecar_overhead.py [--seconds 10] [--engine-url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RATES_HZ = (1.0, 10.0)


def measure(hz: float, seconds: float, engine_url: str | None, workdir: Path) -> tuple[float, int]:
    """(CPU % of one core, samples written) of one sidecar over `seconds` at `hz`."""
    results = workdir / f"hz{hz:g}"
    cmd = [
        sys.executable,
        "-m",
        "loadgen",
        "sidecar",
        "--run-id",
        f"bench-{hz:g}",
        "--results",
        str(results),
        "--interval",
        str(1.0 / hz),
        "--pid",
        str(os.getpid()),
    ]
    if engine_url:
        cmd += ["--engine-url", engine_url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        jsonl = results / "sidecar.jsonl"
        deadline = time.monotonic() + 60
        while not (jsonl.exists() and jsonl.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        ps = psutil.Process(proc.pid)
        lines_before = _count_hosts(jsonl)
        cpu_before, t_before = _cpu_s(ps), time.monotonic()
        time.sleep(seconds)
        cpu_after, t_after = _cpu_s(ps), time.monotonic()
        ticks = _count_hosts(jsonl) - lines_before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    return 100.0 * (cpu_after - cpu_before) / (t_after - t_before), ticks


def _cpu_s(ps: psutil.Process) -> float:
    times = ps.cpu_times()
    return float(times.user + times.system)


def _count_hosts(path: Path) -> int:
    return path.read_text().count('"kind": "host"') if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per rate")
    parser.add_argument("--engine-url", default=None, help="also scrape this engine")
    args = parser.parse_args()
    print(f"sidecar overhead over {args.seconds:g} s per rate ({os.cpu_count()} CPUs)")
    print(f"{'rate':>6} {'interval_s':>10} {'ticks':>6} {'cpu_pct_of_one_core':>20}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for hz in RATES_HZ:
            cpu_pct, ticks = measure(hz, args.seconds, args.engine_url, Path(tmp))
            results[hz] = cpu_pct
            print(f"{hz:>4g}Hz {1.0 / hz:>10g} {ticks:>6} {cpu_pct:>20.2f}")
    print(f"ratio 10 Hz / 1 Hz: {results[10.0] / max(results[1.0], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
