"""Check and explain one bench/gpu_scaling.sh results directory: NVML against nvidia-smi, the
reference table per mode (tok/s, TTFT, VRAM, engine RAM), output lengths, generator health.

Usage: python bench/gpu/check_run.py RESULTS_DIR   (the directory holding cb/, nocb/, whole/)
"""

from __future__ import annotations

import bisect
import statistics
import sys
from collections import Counter
from pathlib import Path

from loadgen.level_summary import LevelSummary
from loadgen.levels import ResourceSeries
from loadgen.records import GpuSample, ProcessSample
from loadgen.results import read_requests, read_sidecar, read_summary

MIB = 1 << 20
GB = 1e9


def smi_readings(path: Path) -> list[tuple[int, int]]:
    """(unix_ns, memory.used bytes) from the script's nvidia_smi.csv (MiB as nvidia-smi prints)."""
    out = []
    for line in path.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[2].isdigit():
            out.append((int(parts[0]), int(parts[2]) * MIB))
    return out


def nvml_vs_smi(results: Path) -> list[str]:
    """Compare each nvidia-smi reading taken while the sidecar's VRAM was steady (its samples
    just before and after agree) with that steady value; readings on a load or free edge are
    counted apart, since the two tools read up to 0.5 s apart."""
    gpu = sorted(
        (s.wall_unix_ns, s.vram_used_bytes)
        for s in read_sidecar(results / "whole")
        if isinstance(s, GpuSample)
    )
    times = [t for t, _ in gpu]
    diffs, edges = [], 0
    for t, smi in smi_readings(results / "nvidia_smi.csv"):
        i = bisect.bisect_right(times, t)
        if not 0 < i < len(gpu):
            continue
        if gpu[i - 1][1] != gpu[i][1]:
            edges += 1
            continue
        diffs.append(abs(gpu[i][1] - smi))
    if not diffs:
        return ["nvml vs nvidia-smi: no paired readings"]
    exact = sum(1 for d in diffs if d < MIB)
    return [
        f"nvml vs nvidia-smi: {len(diffs)} readings on steady VRAM: {exact} equal to the MiB, "
        f"max |diff| {max(diffs) / MIB:.0f} MiB; {edges} readings on a load/free edge skipped",
        "sidecar VRAM plateaus (GB, seconds): " + ", ".join(plateaus(gpu)),
    ]


def plateaus(gpu: list[tuple[int, int]], min_s: float = 2.0) -> list[str]:
    """Runs of equal-to-0.1-GB VRAM lasting at least `min_s`: bare GPU, model, KV reserve..."""
    out: list[str] = []
    start = 0
    for i in range(1, len(gpu) + 1):
        if i == len(gpu) or round(gpu[i][1] / GB, 1) != round(gpu[start][1] / GB, 1):
            length_s = (gpu[i - 1][0] - gpu[start][0]) / 1e9
            if length_s >= min_s:
                out.append(f"{gpu[start][1] / GB:.2f} ({length_s:.0f})")
            start = i
    return out


def generator_cpu(run: Path, levels: tuple[LevelSummary, ...]) -> dict[int, float]:
    """Peak CPU of the swarm's process tree inside each level window (100 = one core)."""
    samples = [s for s in read_sidecar(run / "generator") if isinstance(s, ProcessSample)]
    return {
        lv.users: max(
            (
                s.cpu_pct
                for s in samples
                if (lv.window_start_unix_ns or 0) <= s.wall_unix_ns < (lv.window_end_unix_ns or 0)
            ),
            default=float("nan"),
        )
        for lv in levels
    }


def mode_table(run: Path) -> list[str]:
    summary = read_summary(run)
    levels = summary.levels_with(ResourceSeries.of(read_sidecar(run)))
    cpu = generator_cpu(run, summary.levels)
    lines = [
        "| users | tok/s | TTFT p50 / p95 ms | TPOT p50 ms | VRAM idle / peak GB "
        "| engine RSS idle / peak GB | swarm CPU peak % |",
        "|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        lines.append(
            f"| {lv.users} | {lv.output_tok_s:.0f} | {lv.ttft_p50_ms or 0:.0f} / "
            f"{lv.ttft_p95_ms or 0:.0f} | {lv.tpot_p50_ms or 0:.1f} | "
            f"{_gb(lv.vram_idle_bytes)} / {_gb(lv.vram_peak_bytes)} | "
            f"{_gb(lv.engine_rss_idle_bytes)} / {_gb(lv.engine_rss_peak_bytes)} | "
            f"{cpu[lv.users]:.0f} |"
        )
    return lines


def _gb(value: int | None) -> str:
    return "-" if value is None else f"{value / GB:.2f}"


def request_facts(run: Path) -> list[str]:
    """Output lengths and sources, and the FIFO queue expected without batching."""
    recs = read_requests(run)
    ok = [r for r in recs if r.ok]
    outcome = Counter((r.ok, r.error_type, r.finish_reason, r.n_out_source) for r in recs)
    frames_short = sum(1 for r in ok if len(r.frame_times_ns) < r.n_out)
    n_in = statistics.median(r.n_in or 0 for r in ok) if ok else 0
    n_out = Counter(r.n_out for r in ok).most_common(3)
    return [
        f"requests {len(recs)}: {dict(outcome)}",
        f"n_out most common {n_out}; server prompt tokens median {n_in:.0f}; "
        f"{frames_short} request(s) streamed fewer content frames than usage counts",
    ]


def main() -> None:
    results = Path(sys.argv[1])
    print((results / "gpu.txt").read_text().strip())
    print("\n".join(nvml_vs_smi(results)))
    for mode in ("nocb", "cb"):
        if (results / mode / "summary.json").exists():
            print(f"\n## {mode}")
            print("\n".join(mode_table(results / mode)))
            print("\n".join(request_facts(results / mode)))


if __name__ == "__main__":
    main()
