"""InfluxSink in one gevent worker: points/s into a local influxd, and the worst enqueue latency.

Monkey-patches like a Locust worker, starts its own influxd (Debian package) unless --url is
given, then measures side by side:
  1. throughput: prebuilt llm_request points enqueued as fast as possible, until all are stored;
  2. the load loop: greenlets that enqueue a request point's builder, as the listener does, while
     the flusher builds and sends; worst and p99 `write()` latency in µs, the hub's worst stall,
     next to the same loop appending to a list (the host's noise floor: GC, OS scheduling);
  3. encoding cost per point: our line protocol vs influxdb_client's Point.

    python bench/influx_sink.py [--points 200000] [--seconds 10] [--url URL --db DB]
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadgen import schema  # noqa: E402
from loadgen.records import RequestRecord  # noqa: E402
from loadgen.sinks.influx import InfluxSink, PointLike  # noqa: E402
from loadgen.sinks.influx_http import preflight  # noqa: E402
from loadgen.sinks.influx_settings import InfluxSettings  # noqa: E402
from loadgen.summary import SinkReport  # noqa: E402

TAGS = schema.run_tags("bench", "sim", "m", "openai", "ChatUser")
T0 = 1_770_000_000_000_000_000


def record(worker: str, seq: int) -> RequestRecord:
    frames = tuple(40_000_000 + i * 5_000_000 for i in range(64))
    return RequestRecord(
        run_id="bench", api="openai", model="m", user_class="ChatUser", worker=worker,
        stage_index=0, stage_users=50, seq=seq, wall_send_unix_ns=T0 + seq * 1000,
        t_send_ns=0, t_first_ns=frames[0], t_last_ns=frames[-1], t_end_ns=frames[-1] + 1000,
        frame_times_ns=frames, n_in=128, n_in_source="usage", n_out=64, n_out_source="usage",
    )  # fmt: skip


def throughput(settings: InfluxSettings, n: int, spool: Path) -> tuple[float, SinkReport]:
    points = [schema.request_point(record("tp", i), TAGS) for i in range(n)]
    sink = InfluxSink(settings, spool).start()
    start = time.perf_counter()
    for i in range(0, n, 100):
        sink.write(points[i : i + 100])
        gevent.sleep(0)
    report = sink.close(timeout_s=120)
    return report.written / (time.perf_counter() - start), report


class ListSink:
    """The noise floor: the same loop appending to a list (GC and OS scheduling show here)."""

    def __init__(self) -> None:
        self.points: list[PointLike] = []

    def write(self, points: list[PointLike]) -> None:
        self.points.extend(points)

    def close(self, timeout_s: float) -> SinkReport:
        return SinkReport(written=len(self.points))


def load_loop(settings: InfluxSettings | None, seconds: float, spool: Path) -> dict[str, float]:
    sink = InfluxSink(settings, spool).start() if settings is not None else ListSink()
    latencies_ns: list[int] = []
    stall_ns = [0]
    deadline = time.monotonic() + seconds

    def user(worker: str) -> None:
        seq = 0
        while time.monotonic() < deadline:
            rec = record(worker, seq)
            t0 = time.perf_counter_ns()
            sink.write([functools.partial(schema.request_point, rec, TAGS)])
            latencies_ns.append(time.perf_counter_ns() - t0)
            seq += 1
            gevent.sleep(0.002)

    def ticker() -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter_ns()
            gevent.sleep(0.001)
            stall_ns[0] = max(stall_ns[0], time.perf_counter_ns() - t0 - 1_000_000)

    gevent.joinall([gevent.spawn(user, f"u{i}") for i in range(50)] + [gevent.spawn(ticker)])
    report = sink.close(timeout_s=30)
    latencies_ns.sort()
    return {
        "points": len(latencies_ns),
        "written": report.written,
        "worst_us": latencies_ns[-1] / 1000,
        "p99_us": latencies_ns[int(len(latencies_ns) * 0.99)] / 1000,
        "stall_ms": stall_ns[0] / 1e6,
    }


def encoding_us() -> tuple[float, float]:
    from influxdb_client import Point, WritePrecision

    point = schema.request_point(record("enc", 1), TAGS)
    oracle = Point(point.measurement)
    for k, v in point.tags:
        oracle.tag(k, v)
    for k, fv in point.fields:
        oracle.field(k, fv)
    oracle.time(point.time_ns, WritePrecision.NS)
    return _per_call_us(point.to_line), _per_call_us(oracle.to_line_protocol)


def _per_call_us(fn: object, n: int = 3000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", default="")
    parser.add_argument("--db", default="loadgen_bench")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url = args.url
        if not url:
            from tests.fixtures.influx import Influxd

            server = Influxd(Path(tmp))
            server.start()
            server.create_db(args.db)
            url = server.url
        try:
            run(url, args, Path(tmp))
        finally:
            if server is not None:
                server.stop()


def run(url: str, args: argparse.Namespace, tmp: Path) -> None:
    settings = preflight(InfluxSettings(url=url, db=args.db, batch_points=5000))
    rate, report = throughput(settings, args.points, tmp / "tp.lp")
    print(f"throughput: {rate:,.0f} points/s stored ({report.written} written,"
          f" {report.spilled} spilled, {report.dropped} dropped)")  # fmt: skip
    for name, target in (("list.append (noise floor)", None), ("InfluxSink.write", settings)):
        loop = load_loop(target, args.seconds, tmp / "loop.lp")
        print(
            f"load loop into {name}: {loop['points']:,.0f} points from 50 greenlets,"
            f" {loop['written']:,.0f} stored; enqueue worst {loop['worst_us']:.0f} µs,"
            f" p99 {loop['p99_us']:.1f} µs; worst hub stall {loop['stall_ms']:.1f} ms"
        )
    ours, theirs = encoding_us()
    print(
        f"encoding one llm_request point: {ours:.1f} µs (ours) vs {theirs:.1f} µs"
        f" (influxdb_client Point), ratio {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
