"""Check a `loadgen swarm` run against a real vLLM: token counts from usage, and the client's
numbers beside vLLM's own /metrics over the same run.

records: every ok request has N_out == --output-tokens, counted by the server (`usage`); a
         failed request other than one the run's stop cut off fails the check.
metrics: /metrics scraped before and after the run: vLLM's request count and generated tokens
         against requests.jsonl, and the means of its TTFT, queue, prefill, decode and E2E
         histograms (sum/count deltas) beside the client's TTFT and E2E means.
server:  vLLM's own means between two scrapes, for a run of another client (vllm bench serve).
Usage: python bench/vllm_checks.py records RESULTS_DIR [--output-tokens 64]
       python bench/vllm_checks.py metrics RESULTS_DIR BEFORE.prom AFTER.prom
       python bench/vllm_checks.py server BEFORE.prom AFTER.prom
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadgen import timing
from loadgen.records import RequestRecord

# vLLM's per-request histograms, in seconds, in the order a request meets them
HISTOGRAMS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "queue": "vllm:request_queue_time_seconds",
    "prefill": "vllm:request_prefill_time_seconds",
    "decode": "vllm:request_decode_time_seconds",
    "e2e": "vllm:e2e_request_latency_seconds",
}
STOPPED = "run ended"  # error_detail of a request the run's stop cut off


def load_records(results: Path) -> list[dict[str, Any]]:
    with (results / "requests.jsonl").open() as f:
        return [json.loads(line) for line in f]


def record_problems(recs: list[dict[str, Any]], output_tokens: int) -> list[str]:
    """Why the run's records fail the check (none: it passes)."""
    bad = []
    for r in recs:
        where = f"level {r['stage_users']} users, seq {r['seq']}"
        if not r["ok"]:
            if STOPPED not in (r["error_detail"] or ""):
                bad.append(f"{where}: {r['error_type']} {r['error_detail']!r}")
        elif r["n_out"] != output_tokens or r["n_out_source"] != "usage":
            bad.append(f"{where}: N_out {r['n_out']} from {r['n_out_source']}")
    if not any(r["ok"] for r in recs):
        bad.append("no request finished")
    return bad


def records(args: argparse.Namespace) -> int:
    recs = load_records(Path(args.results))
    by_level = Counter((r["stage_users"], r["ok"], r["n_out"], r["n_out_source"]) for r in recs)
    for (users, ok, n_out, source), n in sorted(by_level.items()):
        print(f"records: {users} users: {n:4d} x ok={ok} N_out={n_out} from {source}")
    ok = [r for r in recs if r["ok"]]
    fewer = sum(len(r["frame_times_ns"]) < r["n_out"] for r in ok)
    print(f"records: {fewer} of {len(ok)} ok requests came in fewer frames than tokens")
    problems = record_problems(recs, args.output_tokens)
    for line in problems[:20]:
        print("CHECK FAILED:", line)
    print(
        f"records: {len(recs)} requests, N_out == {args.output_tokens} from usage: "
        f"{'all passed' if not problems else f'{len(problems)} failed'}"
    )
    return 1 if problems else 0


def scrape_sums(text: str) -> dict[str, float]:
    """Each vllm: sample (other than buckets) summed over its label sets."""
    out: dict[str, float] = {}
    lines = "\n".join(x for x in text.splitlines() if "vllm:" in x) + "\n"
    for family in text_string_to_metric_families(lines):
        for s in family.samples:
            if s.name.startswith("vllm:") and not s.name.endswith("_bucket"):
                out[s.name] = out.get(s.name, 0.0) + float(s.value)
    return out


def server_means_ms(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each histogram's mean over the interval, in ms: Δsum / Δcount (exact, no buckets)."""
    means = {}
    for key, name in HISTOGRAMS.items():
        count = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
        if count > 0:
            means[key] = 1000 * (after[f"{name}_sum"] - before.get(f"{name}_sum", 0.0)) / count
    return means


def metrics(args: argparse.Namespace) -> int:
    before = scrape_sums(Path(args.before).read_text())
    after = scrape_sums(Path(args.after).read_text())
    recs = load_records(Path(args.results))
    ok = [RequestRecord.from_dict(r) for r in recs if r["ok"]]

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    finished = delta("vllm:e2e_request_latency_seconds_count")
    generated = delta("vllm:generation_tokens_total")
    print(
        f"metrics: vLLM finished {finished:.0f} requests and generated {generated:.0f} tokens; "
        f"requests.jsonl has {len(ok)} ok requests with Σ N_out {sum(r.n_out or 0 for r in ok)}"
        " (vLLM's surplus: loadgen's preflight, a 1-token model check and one request of the"
        " run's size, and tokens of requests the stop cut off)"
    )
    server = server_means_ms(before, after)
    ttfts = [t for r in ok if (t := timing.ttft_ms(r)) is not None]
    client = {"ttft": statistics.fmean(ttfts), "e2e": statistics.fmean(map(timing.e2e_ms, ok))}
    print("metrics: means over the whole run, ms (server: histogram Δsum/Δcount)")
    for key in HISTOGRAMS:
        c = f"{client[key]:9.1f}" if key in client else " " * 9
        s = f"{server[key]:9.1f}" if key in server else "        -"
        print(f"metrics:   {key:8s} client {c}   server {s}")
    print(f"metrics: client TTFT mean - server TTFT mean {client['ttft'] - server['ttft']:+.1f} ms")
    return 0 if finished >= len(ok) else 1


def server(args: argparse.Namespace) -> int:
    """vLLM's own means between two scrapes (for a run of another client)."""
    before = scrape_sums(Path(args.before).read_text())
    after = scrape_sums(Path(args.after).read_text())
    means = server_means_ms(before, after)
    finished = after.get("vllm:e2e_request_latency_seconds_count", 0.0) - before.get(
        "vllm:e2e_request_latency_seconds_count", 0.0
    )
    print(
        f"server: {finished:.0f} requests; means, ms: "
        + ", ".join(f"{key} {value:.1f}" for key, value in means.items())
    )
    return 0 if finished > 0 else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("records")
    r.add_argument("results")
    r.add_argument("--output-tokens", type=int, default=64)
    m = sub.add_parser("metrics")
    m.add_argument("results")
    m.add_argument("before")
    m.add_argument("after")
    s = sub.add_parser("server")
    s.add_argument("before")
    s.add_argument("after")
    args = ap.parse_args()
    sys.exit({"records": records, "metrics": metrics, "server": server}[args.cmd](args))


if __name__ == "__main__":
    main()
