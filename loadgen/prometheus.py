"""Prometheus text snapshots, and what two of them say about the time between: counter and
histogram deltas, and quantiles interpolated from bucket deltas as Prometheus'
histogram_quantile does. Pure: text in, numbers out; values summed over label sets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


class MetricsFormatError(ValueError):
    """The body is not Prometheus text."""


_SUFFIXES = ("_count", "_sum", "_total")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One scrape: each sample name's value summed over label sets (`sums`), its largest and
    smallest over label sets (`maxima`, `minima`); histogram buckets summed per upper edge
    (`le`); the metrics it declared (# TYPE), with or without samples yet."""

    wall_unix_ns: int
    sums: Mapping[str, float] = field(default_factory=dict)
    maxima: Mapping[str, float] = field(default_factory=dict)
    minima: Mapping[str, float] = field(default_factory=dict)
    buckets: Mapping[str, Mapping[float, float]] = field(default_factory=dict)  # name -> le -> n
    declared: frozenset[str] = frozenset()

    def has(self, name: str) -> bool:
        return name in self.sums

    def value(self, name: str) -> float | None:
        """A sample's value; 0 for one of a declared metric that has no label set yet (nothing
        observed: prometheus_client writes no sample then); None if not served."""
        if name in self.sums:
            return self.sums[name]
        bases = {name, *(name.removesuffix(x) for x in _SUFFIXES)}
        return 0.0 if bases & self.declared else None

    def bucket_counts(self, name: str) -> Mapping[float, float] | None:
        """A histogram's cumulative count per upper edge; {} when declared without samples."""
        if name in self.buckets:
            return self.buckets[name]
        return {} if name in self.declared else None


def parse_snapshot(text: str, wall_unix_ns: int, prefix: str = "vllm:") -> Snapshot:
    """The samples of `text` whose names start with `prefix`; MetricsFormatError if the text
    is not Prometheus text. Lines of other metrics are skipped unread (a server's /metrics may
    be large), unless none is ours: then the whole text is checked."""
    ours = [line for line in text.splitlines() if prefix in line]
    sums: dict[str, float] = {}
    maxima: dict[str, float] = {}
    minima: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    try:
        families = list(text_string_to_metric_families("\n".join(ours) + "\n" if ours else text))
    except ValueError as exc:
        raise MetricsFormatError(f"not Prometheus text: {exc}") from None
    for family in families:
        for s in family.samples:
            if not s.name.startswith(prefix):
                continue
            value = float(s.value)
            if s.name.endswith("_bucket") and "le" in s.labels:
                edges = buckets.setdefault(s.name.removesuffix("_bucket"), {})
                le = float(s.labels["le"])  # "+Inf" reads as inf
                edges[le] = edges.get(le, 0.0) + value
                continue
            sums[s.name] = sums.get(s.name, 0.0) + value
            maxima[s.name] = max(maxima.get(s.name, -math.inf), value)
            minima[s.name] = min(minima.get(s.name, math.inf), value)
    declared = frozenset(
        parts[2] for line in ours if len(parts := line.split()) >= 3 and parts[:2] == ["#", "TYPE"]
    )
    return Snapshot(wall_unix_ns, sums, maxima, minima, buckets, declared)


def restarted(start: Snapshot, end: Snapshot, name: str) -> bool:
    """True when the metric of sample `name` was created anew in between (its `_created`
    timestamp, which prometheus_client writes, moved on): the server restarted."""
    base = name
    for suffix in _SUFFIXES:
        base = base.removesuffix(suffix)
    a, b = start.minima.get(f"{base}_created"), end.minima.get(f"{base}_created")
    return a is not None and b is not None and b > a


def counter_delta(start: Snapshot, end: Snapshot, *names: str) -> float | None:
    """How much the first of `names` that both snapshots hold grew; None if none is held, or
    it was reset in between (it went down, or was created anew: the server restarted)."""
    for name in names:
        a, b = start.value(name), end.value(name)
        if a is not None and b is not None:
            return b - a if b >= a and not restarted(start, end, name) else None
    return None


@dataclass(frozen=True, slots=True)
class HistogramDelta:
    """What a histogram observed between two snapshots: count, sum and cumulative buckets."""

    count: float
    sum: float
    buckets: tuple[tuple[float, float], ...]  # (upper edge, cumulative count), ascending

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None

    def quantile(self, q: float) -> float | None:
        """The `q` quantile (0..1) interpolated linearly inside its bucket, as Prometheus'
        histogram_quantile: the first bucket starts at 0; a quantile in the +Inf bucket is the
        largest finite edge. None without observations."""
        if self.count <= 0 or not self.buckets:
            return None
        total = self.buckets[-1][1]
        if total <= 0:
            return None
        rank = q * total
        lower_edge, lower_count = 0.0, 0.0
        for edge, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(edge):
                    return lower_edge
                inside = cumulative - lower_count
                if inside <= 0:
                    return edge
                return lower_edge + (edge - lower_edge) * (rank - lower_count) / inside
            lower_edge, lower_count = edge, cumulative
        return lower_edge


def histogram_delta(start: Snapshot, end: Snapshot, *names: str) -> HistogramDelta | None:
    """The first of the histograms `names` (base names, without _count/_sum/_bucket) that both
    snapshots hold, as observed between them; None if none is held, or if its count, sum or
    any bucket went down (a reset), or the two disagree on bucket edges."""
    for name in names:
        a, b = start.bucket_counts(name), end.bucket_counts(name)
        if a is None or b is None:
            continue
        # the sum may not shrink either: observed durations are never negative
        count = counter_delta(start, end, f"{name}_count")
        total = counter_delta(start, end, f"{name}_sum")
        if count is None or total is None or (a and set(a) != set(b)):
            return None
        cumulative = tuple((le, b[le] - a.get(le, 0.0)) for le in sorted(b))
        if any(n < 0 for _, n in cumulative):
            return None
        return HistogramDelta(count, total, cumulative)
    return None


def gauge_peak(snapshots: Iterable[Snapshot], *names: str) -> float | None:
    """The largest value of the first gauge of `names` any snapshot holds, over label sets."""
    snapshots = list(snapshots)
    for name in names:
        values = [s.maxima[name] for s in snapshots if name in s.maxima]
        if values:
            return max(values)
    return None


def nearest(snapshots: Iterable[Snapshot], wall_unix_ns: int, within_ns: int) -> Snapshot | None:
    """The snapshot taken nearest to `wall_unix_ns`, if within `within_ns` of it."""
    best = min(snapshots, key=lambda s: abs(s.wall_unix_ns - wall_unix_ns), default=None)
    if best is None or abs(best.wall_unix_ns - wall_unix_ns) > within_ns:
        return None
    return best
