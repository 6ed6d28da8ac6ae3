"""Check a `loadgen swarm` run against a real vLLM: token counts from usage, and the client's
numbers beside vLLM's own /metrics over the same run.

records: every ok request has N_out == --output-tokens, counted by the server (`usage`); a
         failed request other than one the run's stop cut off fails the check.
metrics: /metrics scraped before and after the run: vLLM's request count and generated tokens
         against requests.jsonl, and the means of its TTFT, queue, prefill, decode and E2E
         histograms (sum/count deltas) beside the client's TTFT and E2E means.
server:  vLLM's own means between two scrapes, for a run of another client (vllm bench serve).
share:   per level, the client's share of the TTFT (summary.json's client_overhead_ms: client
         TTFT mean − vLLM's, over the level's window) must lie in [0, --max-ms]: on loopback, a
         few ms of HTTP, the API server and parsing. One PASS or FAIL line per level.
Usage: python bench/vllm_checks.py records RESULTS_DIR [--output-tokens 64]
       python bench/vllm_checks.py metrics RESULTS_DIR BEFORE.prom AFTER.prom
       python bench/vllm_checks.py server BEFORE.prom AFTER.prom
       python bench/vllm_checks.py share RESULTS_DIR [--max-ms 5]
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

from loadgen import results as results_dir
from loadgen import timing
from loadgen.errors import LoadgenError
from loadgen.level_summary import LevelSummary
from loadgen.records import RequestRecord

# vLLM's per-request histograms, in seconds, in the order a request meets them
HISTOGRAMS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "queue": "vllm:request_queue_time_seconds",
    "prefill": "vllm:request_prefill_time_seconds",
    "decode": "vllm:request_decode_time_seconds",
    "e2e": "vllm:e2e_request_latency_seconds",
}
QUEUED_MS = 1.0  # a level whose queue mean reaches this had requests wait for a slot
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
    if "ttft" not in server:
        print("metrics: FAIL vLLM counted no TTFT between the two /metrics documents")
        return 1
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


def first_token_share_ms(recs: list[dict[str, Any]], lv: LevelSummary) -> float | None:
    """Client TTFT mean − vLLM's over the requests whose first token the client read between the
    level's two scrapes: those vLLM's TTFT histogram counts there (it observes a request's TTFT
    at its first token; the level's client TTFT mean takes the requests that ended in it)."""
    start, end = lv.server_window_start_unix_ns, lv.server_window_end_unix_ns
    if start is None or end is None or lv.server_ttft_mean_ms is None:
        return None
    ttfts = [
        (r["t_first_ns"] - r["t_send_ns"]) / 1e6
        for r in recs
        if r["t_first_ns"] is not None
        and start <= r["wall_send_unix_ns"] + r["t_first_ns"] - r["t_send_ns"] < end
    ]
    return statistics.fmean(ttfts) - lv.server_ttft_mean_ms if ttfts else None


def share_line(lv: LevelSummary, same_ms: float | None, max_ms: float) -> tuple[bool, str]:
    """Whether the level's client share lies in [0, max_ms], and its line. A level whose
    requests queued is not judged: its TTFTs spread over a slot's wait, so the requests that
    ended in the window and those whose first token fell in it have means apart by more than
    the share."""
    head = f"share: {lv.users} users:"
    if lv.client_overhead_ms is None or lv.ttft_mean_ms is None or lv.queue_mean_ms is None:
        return False, f"{head} FAIL no server-side TTFT for this level (breakdown_source '')"
    share_ms = lv.client_overhead_ms
    queued = lv.queue_mean_ms >= QUEUED_MS
    ok = queued or 0 <= share_ms <= max_ms
    verdict = "NOT JUDGED (requests queued)" if queued else "PASS" if ok else "FAIL"
    same = "-" if same_ms is None else f"{same_ms:.1f}"
    return ok, (
        f"{head} {verdict} client share {share_ms:.1f} ms (bound 0..{max_ms:g}) = client TTFT "
        f"mean {lv.ttft_mean_ms:.1f} - vLLM's {lv.server_ttft_mean_ms:.1f} ms; over the "
        f"requests whose first token fell between the scrapes {same} ms; queue "
        f"{lv.queue_mean_ms:.1f} ms, {lv.output_tok_s:.1f} tok/s, client ITL p50 "
        f"{lv.itl_p50_ms or 0:.1f} ms, vLLM ITL mean {lv.server_itl_mean_ms or 0:.1f} ms"
    )


def share(args: argparse.Namespace) -> int:
    try:
        levels = results_dir.read_summary(Path(args.results)).levels
    except LoadgenError as e:
        print(f"share: FAIL {e}")
        return 1
    recs = load_records(Path(args.results))
    verdicts = [share_line(lv, first_token_share_ms(recs, lv), args.max_ms) for lv in levels]
    for _, line in verdicts:
        print(line)
    failed = sum(not ok for ok, _ in verdicts)
    judged = sum("NOT JUDGED" not in line for _, line in verdicts)
    print(
        f"share: {'PASS' if verdicts and not failed else 'FAIL'}: {judged - failed} of {judged}"
        f" levels judged have a client share within 0..{args.max_ms:g} ms"
    )
    return 0 if verdicts and not failed else 1


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
    c = sub.add_parser("share")
    c.add_argument("results")
    c.add_argument("--max-ms", type=float, default=5.0)
    args = ap.parse_args()
    commands = {"records": records, "metrics": metrics, "server": server, "share": share}
    sys.exit(commands[args.cmd](args))


if __name__ == "__main__":
    main()
