"""Check loadgen's numbers against llama.cpp's own: token counts, TTFT and decode rate.

probe:   send N streamed chats (C at a time) through loadgen's OpenAI parser, read the server's
         own `usage` and `timings` from the same bytes, and compare per request.
metrics: compare a swarm's requests.jsonl with the delta of llama-server's /metrics counters.
records: how a swarm's requests were classified (outcome, N_out source, frames vs N_out).
Usage: python bench/llamacpp_checks.py probe URL [--requests 4] [--concurrency 1] [--max-tokens 32]
       python bench/llamacpp_checks.py metrics RESULTS_DIR BEFORE.prom AFTER.prom
       python bench/llamacpp_checks.py records RESULTS_DIR
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadgen import timing
from loadgen.backends import ChatRequest, OpenAIBackend
from loadgen.backends.base import StreamResult
from loadgen.records import RequestRecord
from loadgen.tokens import text_of


def post_stream(url: str, body: dict[str, Any]) -> tuple[StreamResult, int, list[dict[str, Any]]]:
    """One streamed chat: loadgen's parser result, t_send_ns, and every JSON frame (raw parse)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=300)
    parser = OpenAIBackend().parser()
    raw = bytearray()
    t_send_ns = time.perf_counter_ns()
    conn.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"}
    )
    resp = conn.getresponse()
    try:
        while chunk := resp.read1(65536):
            parser.feed(chunk, time.perf_counter_ns())
            raw += chunk
    except (http.client.HTTPException, OSError):
        pass  # cut mid-stream (llama-cpp-python interrupts it): the parser reports truncated
    result = parser.finish(time.perf_counter_ns())
    conn.close()
    frames = [
        json.loads(line[5:])
        for line in raw.decode().splitlines()
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]")
    ]
    return result, t_send_ns, frames


def post_plain(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """The same chat without streaming: the whole JSON response."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=300)
    plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    conn.request(
        "POST",
        "/v1/chat/completions",
        json.dumps({**plain, "stream": False}),
        {"content-type": "application/json"},
    )
    data: dict[str, Any] = json.loads(conn.getresponse().read())
    conn.close()
    return data


def record_of(result: StreamResult, t_send_ns: int) -> RequestRecord:
    return RequestRecord(
        run_id="probe",
        api="openai",
        model="m",
        user_class="probe",
        worker="probe",
        stage_index=0,
        stage_users=1,
        seq=0,
        wall_send_unix_ns=0,
        t_send_ns=t_send_ns,
        t_end_ns=result.t_last_ns or t_send_ns,
        t_first_ns=result.t_first_ns,
        t_last_ns=result.t_last_ns,
        frame_times_ns=result.frame_times_ns,
        n_out=result.n_out,
        n_out_source=result.n_out_source,
        ok=result.ok,
    )


def last_dict(frames: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    found = [f[key] for f in frames if isinstance(f.get(key), dict)]
    return found[-1] if found else None


def probe_one(url: str, index: int, max_tokens: int, usage: bool) -> dict[str, Any]:
    body = OpenAIBackend().body(
        ChatRequest(
            model="m",
            messages=({"role": "user", "content": text_of(48, seed=index)},),
            max_tokens=max_tokens,
            temperature=0.0,  # greedy: a repeat of the request yields the same tokens
        )
    )
    if not usage:
        body.pop("stream_options")
    result, t_send_ns, frames = post_stream(url, body)
    rec = record_of(result, t_send_ns)
    timings, server_usage = last_dict(frames, "timings"), last_dict(frames, "usage")
    usage_from = "stream" if server_usage else None
    if server_usage is None and timings is None:  # no count in the stream: ask without streaming
        server_usage, usage_from = post_plain(url, body).get("usage"), "non-stream repeat"
    row: dict[str, Any] = {
        "ok": result.ok,
        "error": result.error_type,
        "finish": result.finish_reason,
        "n_out": result.n_out,
        "n_out_source": result.n_out_source,
        "frames": len(result.frame_times_ns),
        "role_only_first": _role_only(frames),
        "usage_out": server_usage and server_usage.get("completion_tokens"),
        "usage_from": usage_from,
        "ttft_ms": timing.ttft_ms(rec),
        "tpot_ms": timing.tpot_ms(rec),
    }
    if timings:
        n = timings["predicted_n"]
        row.update(
            predicted_n=n,
            prompt_ms=timings["prompt_ms"],
            server_tpot_ms=timings["predicted_ms"] / max(n - 1, 1),
            server_per_token_ms=timings["predicted_per_token_ms"],
        )
    return row


def _role_only(frames: list[dict[str, Any]]) -> bool:
    choices = frames[0].get("choices") if frames else None
    delta = choices[0].get("delta", {}) if choices else {}
    return bool(delta.get("role")) and not delta.get("content")


def probe(args: argparse.Namespace) -> int:
    with ThreadPoolExecutor(args.concurrency) as pool:
        rows = list(
            pool.map(
                lambda i: probe_one(args.url, i, args.max_tokens, not args.no_usage),
                range(args.requests),
            )
        )
    for row in rows:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}))
    failures = verdicts(rows)
    for line in failures:
        print("CHECK FAILED:", line)
    print(
        f"probe: {len(rows)} requests, concurrency {args.concurrency}: "
        f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed'}"
    )
    return 1 if failures else 0


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Token counts must match exactly; TTFT must contain the server's prompt time; the decode
    rates are printed as a ratio (speed is reported, not asserted)."""
    bad = [f"request failed: {r['error']}" for r in rows if not r["ok"]]
    for r in rows:
        server_n = r["usage_out"] if r["usage_out"] is not None else r.get("predicted_n")
        if server_n is not None and r["n_out"] != server_n:
            bad.append(f"n_out {r['n_out']} != server's {server_n}")
        if "prompt_ms" in r and r["ttft_ms"] is not None and r["ttft_ms"] < r["prompt_ms"]:
            bad.append(f"TTFT {r['ttft_ms']:.1f} ms < server prompt_ms {r['prompt_ms']:.1f}")
    timed = [r for r in rows if r.get("server_tpot_ms") and r["tpot_ms"]]
    if timed:
        ratio = statistics.median(r["tpot_ms"] / r["server_tpot_ms"] for r in timed)
        overhead = statistics.median(r["ttft_ms"] - r["prompt_ms"] for r in timed)
        print(
            f"decode: client TPOT / server predicted_ms/(n-1) median {ratio:.3f}; "
            f"TTFT - server prompt_ms median {overhead:.1f} ms"
        )
    return bad


def prom_counters(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def metrics(args: argparse.Namespace) -> int:
    """Σ n_out and Σ n_in of every recorded request against the server's counter deltas."""
    before, after = prom_counters(Path(args.before)), prom_counters(Path(args.after))
    recs = [json.loads(x) for x in (Path(args.results) / "requests.jsonl").open()]
    ok = [r for r in recs if r["ok"]]
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    sum_out = sum(r["n_out"] for r in recs)
    server_out = delta.get("llamacpp:tokens_predicted_total", float("nan"))
    seconds = delta.get("llamacpp:tokens_predicted_seconds_total", float("nan"))
    tpots = [t for r in ok if (t := timing.tpot_ms(RequestRecord.from_dict(r))) is not None]
    print(
        f"metrics: {len(recs)} requests ({len(recs) - len(ok)} failed); "
        f"Σ n_out {sum_out} vs server tokens_predicted_total delta {server_out:.0f} "
        f"(diff {server_out - sum_out:+.0f}: loadgen's preflight, a 1-token model check and one"
        " request of the run's size, and tokens the server made for requests cut off at the stop)"
    )
    if tpots and server_out:
        print(
            f"metrics: client TPOT mean {statistics.fmean(tpots):.1f} ms vs server "
            f"predicted seconds/token {1000 * seconds / server_out:.1f} ms"
        )
    return 0 if server_out >= sum_out else 1


def records(args: argparse.Namespace) -> int:
    """Every request's class; fails only if a request failed for a reason other than the stop."""
    recs = [json.loads(x) for x in (Path(args.results) / "requests.jsonl").open()]
    classes = Counter(
        (
            r["ok"],
            r["error_type"],
            (r["error_detail"] or "")[:40],
            r["finish_reason"],
            r["n_out_source"],
        )
        for r in recs
    )
    for key, n in classes.most_common():
        print(
            f"records: {n:4d} x ok={key[0]} error={key[1]} {key[2]!r} finish={key[3]} "
            f"n_out_source={key[4]}"
        )
    ok = [r for r in recs if r["ok"]]
    off = [r for r in ok if len(r["frame_times_ns"]) != r["n_out"]]
    print(f"records: {len(off)} of {len(ok)} ok requests streamed a frame count != N_out")
    unexpected = [r for r in recs if not r["ok"] and "run ended" not in (r["error_detail"] or "")]
    return 1 if unexpected else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("url")
    p.add_argument("--requests", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--no-usage", action="store_true", help="do not ask for stream usage")
    m = sub.add_parser("metrics")
    m.add_argument("results")
    m.add_argument("before")
    m.add_argument("after")
    sub.add_parser("records").add_argument("results")
    args = ap.parse_args()
    sys.exit({"probe": probe, "metrics": metrics, "records": records}[args.cmd](args))


if __name__ == "__main__":
    main()
