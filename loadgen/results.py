"""The results directory, `results/<run_id>/`: every file name in it, and their writers and readers.

requests.jsonl (a RequestRecord a line), summary.json and meta.json (a RunSummary), sidecar.jsonl
(a sidecar sample a line), Locust's CSVs, InfluxDB sink reports and spools. Plain file I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from loadgen.errors import LoadgenError
from loadgen.records import (
    EngineSample,
    GpuSample,
    HostSample,
    Notice,
    ProcessSample,
    RequestRecord,
    SidecarSample,
)
from loadgen.redact import REDACTED, redact_text
from loadgen.summary import RunMeta, RunSummary, SinkReport

REQUESTS_FILE = "requests.jsonl"
SUMMARY_FILE = "summary.json"
META_FILE = "meta.json"
SIDECAR_FILE = "sidecar.jsonl"
SIDECAR_LOG = "sidecar.log"  # the sidecar child's stdout and stderr
CSV_PREFIX = "locust"  # Locust writes locust_stats.csv, locust_failures.csv, ...
LLM_CSV_SUFFIX = "_llm_stats.csv"  # loadgen's TTFT/ITL/TPOT beside them: locust_llm_stats.csv
INFLUX_SPOOL_FILE = "influx-spool.lp"  # points InfluxDB did not take, for `loadgen replay`
INFLUX_REJECTED_FILE = "influx-rejected.lp"  # points the server refused as malformed (HTTP 400)
INFLUX_SPOOL_GLOB = "*influx-spool*.lp"
INFLUX_REPORT_GLOB = "*influx*.json"
SIDECAR_INFLUX_SPOOL_FILE = "sidecar-influx-spool.lp"
SIDECAR_INFLUX_REPORT_FILE = "sidecar-influx-report.json"
# What one run leaves: `--overwrite` removes these (and nothing else) before the next run.
RUN_FILE_GLOBS = (
    REQUESTS_FILE,
    SUMMARY_FILE,
    META_FILE,
    SIDECAR_FILE,
    SIDECAR_LOG,
    f"{CSV_PREFIX}_*.csv",
    "*influx*.lp",
    INFLUX_REPORT_GLOB,
    "*.tmp",
)
WRITE_CHECK_FILE = ".loadgen-write-check"
SECRET_FLAGS = ("--api-key", "--influx-token", "--influx-password")


def influx_report_file(worker: str | None) -> str:
    """The sink report of the master or local process (None), or of one worker."""
    return "influx.json" if worker is None else f"influx-{worker}.json"


def make_run_id(wall_unix_s: float | None = None, suffix: str | None = None) -> str:
    """'20261126-101530-ab12': UTC time of the start plus a short random suffix."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall_unix_s))
    return f"{stamp}-{suffix or secrets.token_hex(2)}"


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the value of every secret flag (`--api-key X`, `--api-key=X`) replaced, and the
    credentials of every URL in it (`--influx-url http://user:pw@host`, `?token=`)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            out.append(f"{flag}={REDACTED}" if eq else arg)
            hide_next = not eq
            continue
        out.append(redact_text(arg))
    return out


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; a missing or bad file is one LoadgenError line."""
    if not path.is_file():
        raise LoadgenError(f"{path}: missing (is this a loadgen results directory?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LoadgenError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LoadgenError(f"{path}: expected a JSON object")
    return data


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line. A torn last line (a writer killed
    mid-line) ends the file; any other bad line is one LoadgenError line."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            if number == len(lines):
                return
            raise LoadgenError(f"{path}:{number}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise LoadgenError(f"{path}:{number}: expected a JSON object")
        yield number, data


# the directory itself ----------------------------------------------------------------------
def prepare_results_dir(results_dir: Path, overwrite: bool) -> None:
    """Make `results_dir` ready for one run, before any load: created if missing, refused if it
    already holds files (unless `overwrite`: then the files of the run before are removed),
    and checked writable. Each problem is one LoadgenError line."""
    where = f"--results {results_dir}"
    if results_dir.exists() and not results_dir.is_dir():
        raise LoadgenError(f"{where}: not a directory")
    missing = [d for d in (results_dir, *results_dir.parents) if not d.exists()]
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for pattern in RUN_FILE_GLOBS:
                for path in results_dir.glob(pattern):
                    path.unlink()
        held = sorted(p.name for p in results_dir.iterdir())
    except OSError as exc:
        raise LoadgenError(f"{where}: {exc.strerror or exc}") from None
    if held and not overwrite:
        raise LoadgenError(
            f"{where} is not empty ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}):"
            " pass --overwrite to replace the run in it, or choose a new directory"
        )
    try:
        check_writable(results_dir)
    finally:  # a run stopped by other bad input leaves no empty directory behind
        for made in missing:
            made.rmdir()


def check_writable(results_dir: Path) -> None:
    """One small file written and removed; a read-only or full filesystem is one line."""
    probe = results_dir / WRITE_CHECK_FILE
    try:
        probe.write_text("loadgen\n")
        probe.unlink()
    except OSError as exc:
        raise LoadgenError(
            f"--results {results_dir}: cannot write there: {exc.strerror or exc}"
        ) from None


# summary.json and meta.json ----------------------------------------------------------------
def write_summary(results_dir: Path, summary: RunSummary) -> None:
    """summary.json and meta.json, both from the one RunSummary."""
    results_dir.mkdir(parents=True, exist_ok=True)
    write_json(results_dir / SUMMARY_FILE, summary.to_dict())
    write_json(results_dir / META_FILE, summary.meta.to_dict())


def read_summary(results_dir: Path) -> RunSummary:
    """The RunSummary of a results directory (meta.json optional); one LoadgenError line if
    summary.json is missing or is not a loadgen summary."""
    data = read_json_object(results_dir / SUMMARY_FILE)
    meta_path = results_dir / META_FILE
    meta = read_json_object(meta_path) if meta_path.is_file() else None
    if not isinstance(data.get("levels"), list):
        raise LoadgenError(f"{results_dir / SUMMARY_FILE}: has no per-level list ('levels')")
    try:
        return RunSummary.from_dict(data, meta)
    except (TypeError, ValueError, AttributeError) as exc:
        raise LoadgenError(f"{results_dir / SUMMARY_FILE}: not a loadgen summary ({exc})") from None


def read_meta(results_dir: Path) -> RunMeta:
    """The run's metadata: meta.json, else summary.json's `meta`; one LoadgenError line if
    there is neither."""
    path = results_dir / META_FILE
    if not path.is_file():
        return read_summary(results_dir).meta
    data = read_json_object(path)
    try:
        return RunMeta.from_dict({"run_id": "", **data})
    except (TypeError, ValueError) as exc:
        raise LoadgenError(f"{path}: not loadgen run metadata ({exc})") from None


# requests.jsonl ----------------------------------------------------------------------------
class RequestLog:
    """Appends RequestRecords to requests.jsonl, a line at a time (one unbuffered write each):
    a record is on disk, or its write failed, when `write` returns. After the first failed write
    nothing more is written and `error` says why in one line."""

    def __init__(self, results_dir: Path) -> None:
        self.path = results_dir / REQUESTS_FILE
        self.count = 0
        self.error = ""
        self._file: BinaryIO | None = None
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab", buffering=0)
        except OSError as exc:
            self._failed(exc)

    def write(self, record: RequestRecord) -> bool:
        """True once the record's line is written; False after a failed write."""
        if self._file is None:
            return False
        try:
            # msgspec writes the dataclass as json.dumps(record.to_dict()) would, 50x faster
            line = memoryview(msgspec.json.encode(record) + b"\n")
            while line:  # a disk near full takes part of it; the next write says why
                written = self._file.write(line)
                if not written:
                    raise OSError(f"no byte of a {len(line)}-byte line written")
                line = line[written:]
        except OSError as exc:
            self._failed(exc)
            return False
        self.count += 1
        return True

    def flush(self) -> None:
        """Nothing to do: every line is flushed as it is written."""

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # its error is already in `error`
                self._file.close()
            self._file = None

    def _failed(self, exc: OSError) -> None:
        self.error = f"cannot write {self.path}: {exc.strerror or exc}"
        self.close()


def read_requests(results_dir: Path) -> list[RequestRecord]:
    """Every record of requests.jsonl; one LoadgenError line for a missing file or bad line."""
    path = results_dir / REQUESTS_FILE
    if not path.is_file():
        raise LoadgenError(f"{path}: missing (is this a loadgen results directory?)")
    records = []
    for number, data in jsonl_objects(path):
        try:
            records.append(RequestRecord.from_dict(data))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LoadgenError(f"{path}:{number}: not a request record ({exc})") from None
    return records


# sidecar.jsonl -----------------------------------------------------------------------------
SIDECAR_KINDS: dict[str, type[Any]] = {
    "gpu": GpuSample,
    "process": ProcessSample,
    "host": HostSample,
    "engine": EngineSample,
    "notice": Notice,
}
_KIND_OF: dict[type[Any], str] = {cls: kind for kind, cls in SIDECAR_KINDS.items()}


def sidecar_line(sample: SidecarSample, run_id: str) -> dict[str, Any]:
    """One sidecar.jsonl line: `{"kind": ..., "run_id": ..., **dataclasses.asdict(sample)}`."""
    return {"kind": _KIND_OF[type(sample)], "run_id": run_id, **dataclasses.asdict(sample)}


def parse_sidecar_line(line: dict[str, Any]) -> SidecarSample | None:
    """Inverse of `sidecar_line`; an unknown kind gives None, unknown keys are ignored."""
    cls = SIDECAR_KINDS.get(str(line.get("kind")))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    sample: SidecarSample = cls(**{k: v for k, v in line.items() if k in names})
    return sample


class SidecarLog:
    """Appends each tick's samples to sidecar.jsonl and flushes: a killed sidecar loses at
    most one tick."""

    def __init__(self, results_dir: Path, run_id: str) -> None:
        self.path = results_dir / SIDECAR_FILE
        self._run_id = run_id
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise LoadgenError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def write(self, samples: Sequence[SidecarSample]) -> None:
        if not samples:
            return
        text = "".join(json.dumps(sidecar_line(s, self._run_id)) + "\n" for s in samples)
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def read_sidecar(results_dir: Path) -> list[SidecarSample]:
    """Every sample in sidecar.jsonl ([] if the sidecar did not run); a torn last line is
    skipped, any other bad line is one LoadgenError line."""
    path = results_dir / SIDECAR_FILE
    if not path.exists():
        return []
    out = []
    for number, data in jsonl_objects(path):
        try:
            sample = parse_sidecar_line(data)
        except (ValueError, TypeError) as exc:
            raise LoadgenError(f"{path}:{number}: not a sidecar sample ({exc})") from None
        if sample is not None:
            out.append(sample)
    return out


class SidecarTail:
    """Reads sidecar.jsonl as it grows: each `read()` returns the samples of the complete
    lines appended since the last one, so a run reads every line once. A line that is not a
    sample, or a file that cannot be read, costs those samples only: `problems` says which."""

    def __init__(self, results_dir: Path) -> None:
        self.path = results_dir / SIDECAR_FILE
        self._offset = 0
        self._lines = 0
        self.samples: list[SidecarSample] = []
        self.problems: list[str] = []

    def read(self) -> list[SidecarSample]:
        """Every sample so far; a line being written is left for the next call."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return self.samples
        except OSError as exc:
            self.problems.append(f"{self.path}: {exc.strerror or exc}")
            return self.samples
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for text in complete.decode("utf-8", errors="replace").splitlines():
            self._lines += 1
            self._add(text)
        return self.samples

    def _add(self, text: str) -> None:
        if not text.strip():
            return
        where = f"{self.path}:{self._lines}"
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                self.problems.append(f"{where}: expected a JSON object")
                return
            sample = parse_sidecar_line(data)
        except (ValueError, TypeError) as exc:
            self.problems.append(f"{where}: not a sidecar sample ({exc})")
            return
        if sample is not None:
            self.samples.append(sample)


# InfluxDB sink reports --------------------------------------------------------------------
def read_sink_reports(results_dir: Path) -> SinkReport | None:
    """The sum of every sink report a run left (influx.json, one per worker, the sidecar's);
    None if InfluxDB was not used."""
    total: SinkReport | None = None
    for path in sorted(results_dir.glob(INFLUX_REPORT_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            report = SinkReport(**{k: data[k] for k in SinkReport.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a sink report
        total = report if total is None else total + report
    return total
