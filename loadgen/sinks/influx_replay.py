"""Load a finished run into InfluxDB: its spool, and its requests.jsonl / sidecar.jsonl.

Idempotent: a point has the same measurement, tags and timestamp every time it is built, so
sending it again overwrites it instead of adding a second one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import schema
from loadgen.errors import LoadgenError
from loadgen.line_protocol import LinePoint, encode
from loadgen.records import Notice, RequestRecord
from loadgen.results import (
    INFLUX_REJECTED_FILE,
    INFLUX_SPOOL_FILE,
    INFLUX_SPOOL_GLOB,
    REQUESTS_FILE,
    SIDECAR_FILE,
    jsonl_objects,
    parse_sidecar_line,
    read_meta,
)
from loadgen.sinks.influx_http import InfluxHttp
from loadgen.sinks.spool import read_batches

log = logging.getLogger("loadgen.influx")
RETRY_BUDGET_S = 30.0


@dataclass
class ReplayCounts:
    """Points sent per source file."""

    by_source: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


def sources(path: Path, spool: bool = True, jsonl: bool = True) -> list[Path]:
    """The files to load: a given .lp/.jsonl file, or those found in a results directory."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise LoadgenError(f"{path} is neither a results directory nor a file")
    found = sorted(path.glob(INFLUX_SPOOL_GLOB)) if spool else []
    if jsonl:
        found += [path / n for n in (REQUESTS_FILE, SIDECAR_FILE) if (path / n).is_file()]
    if not found:
        what = " or ".join(
            ([INFLUX_SPOOL_FILE] if spool else [])
            + ([REQUESTS_FILE, SIDECAR_FILE] if jsonl else [])
        )
        raise LoadgenError(f"nothing to load in {path}: no {what}")
    return found


def check_sources(files: Iterable[Path]) -> None:
    """Read every file once before anything is sent, so a bad one stops the replay with one
    line and nothing half-loaded: not UTF-8, not JSON lines, not loadgen's records."""
    for path in files:
        _check_utf8(path)
        if path.suffix == ".lp":
            if path.name == INFLUX_REJECTED_FILE:
                raise LoadgenError(f"{path} holds points the server rejected as malformed")
            continue
        lines = known = 0
        for line_no, data in jsonl_objects(path):
            _points_of(path, line_no, data, {})
            lines += 1
            known += path.name == REQUESTS_FILE or parse_sidecar_line(data) is not None
        if lines and not known:
            raise LoadgenError(
                f"{path}: no loadgen records in it (requests.jsonl or sidecar.jsonl lines)"
            )


def _check_utf8(path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadgenError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise LoadgenError(f"{path}:{line_no}: not UTF-8 text (is it a loadgen file?)") from None


def replay(client: InfluxHttp, files: Iterable[Path], batch_points: int = 5000) -> ReplayCounts:
    """Send every file; raises LoadgenError (one line) if the server refuses a batch."""
    counts = ReplayCounts()
    for path in files:
        sent = 0
        for body, n in _batches(path, batch_points):
            _send(client, body, f"{path.name} (points {sent + 1}-{sent + n})")
            sent += n
        counts.by_source[str(path)] = sent
    return counts


def _batches(path: Path, batch_points: int) -> Iterator[tuple[bytes, int]]:
    if path.suffix == ".lp":
        if path.name == INFLUX_REJECTED_FILE:
            raise LoadgenError(f"{path} holds points the server rejected as malformed")
        yield from read_batches(path, batch_points)
        return
    points = _jsonl_points(path)
    while batch := [p for _, p in zip(range(batch_points), points, strict=False)]:
        yield encode(batch), len(batch)


def _send(client: InfluxHttp, body: bytes, what: str) -> None:
    deadline = time.monotonic() + RETRY_BUDGET_S
    attempt = 0
    while True:
        outcome = client.write(body)
        if outcome.kind == "ok":
            return
        if outcome.kind != "retry" or time.monotonic() >= deadline:
            raise LoadgenError(f"InfluxDB did not take {what}: {outcome.reason}")
        attempt += 1
        delay_s = min(8.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)
        time.sleep(max(delay_s, outcome.retry_after_s or 0.0))


def _jsonl_points(path: Path) -> Iterator[LinePoint]:
    tags = _run_tags(path.parent)
    for line_no, data in jsonl_objects(path):
        yield from _points_of(path, line_no, data, tags)


def _points_of(
    path: Path, line_no: int, data: dict[str, Any], tags: dict[str, str]
) -> list[LinePoint]:
    try:
        return _line_points(data, path.name, tags)
    except (ValueError, TypeError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise LoadgenError(f"{path}:{line_no}: not a valid record ({reason})") from None


def _line_points(data: dict[str, Any], name: str, tags: dict[str, str]) -> list[LinePoint]:
    if name == REQUESTS_FILE:
        record = RequestRecord.from_dict(data)
        return [schema.request_point(record, {**tags, "run_id": record.run_id})]
    sample = parse_sidecar_line(data)
    if sample is None or isinstance(sample, Notice):  # notices and unknown kinds: not metrics
        return []
    return schema.sample_points(sample, {**tags, "run_id": str(data.get("run_id", ""))})


def _run_tags(results_dir: Path) -> dict[str, str]:
    """Run tags (engine, user_class, ...) from the run's metadata, so that imported points land
    in the same series as the live ones."""
    try:
        meta = read_meta(results_dir)
    except LoadgenError as exc:
        log.warning("no run metadata in %s (%s): points carry no engine tag", results_dir, exc)
        return {}
    return {k: str(getattr(meta, k)) for k in schema.RUN_TAGS if getattr(meta, k)}
