"""loadgen's LLM statistics in Locust's own channels: worker reports, --csv files, the end print.

Workers add their LlmStats to Locust's periodic stats report; the master merges them, in step
with Locust's own request numbers. The master or local runner writes the LLM CSV at the end.
"""

from __future__ import annotations

import csv
import os
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsCSVFileWriter, console_logger

from loadgen.results import LLM_CSV_SUFFIX
from loadgen.swarm.llm_stats import LlmStats, csv_header, csv_rows, summary_lines

REPORT_KEY = "loadgen_llm_stats"  # in a worker's Locust "stats" message
_by_environment: weakref.WeakKeyDictionary[Any, LlmStats] = weakref.WeakKeyDictionary()


def _stop_csv_writer_before_its_files_close() -> None:
    """Locust closes its --csv files at exit while their writer greenlet still runs. With
    --processes its exit hook then waits up to 3 s for the workers; the writer wakes meanwhile
    and dies on a closed file, with a traceback. Here the writer is stopped first."""
    write, close = StatsCSVFileWriter.stats_writer, StatsCSVFileWriter.close_files
    if getattr(close, "stops_writer", False):
        return

    def stats_writer(self: StatsCSVFileWriter) -> None:
        self._loadgen_writer = gevent.getcurrent()  # type: ignore[attr-defined]
        write(self)

    def close_files(self: StatsCSVFileWriter) -> None:
        writer = getattr(self, "_loadgen_writer", None)
        if writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=True)
        close(self)

    close_files.stops_writer = True  # type: ignore[attr-defined]
    StatsCSVFileWriter.stats_writer = stats_writer  # type: ignore[method-assign]
    StatsCSVFileWriter.close_files = close_files  # type: ignore[method-assign]


_stop_csv_writer_before_its_files_close()


def stats_for(environment: Any) -> LlmStats:
    """The LlmStats of this Locust environment, wired to its events on first use: once per
    process, however many Sessions it builds."""
    llm = _by_environment.get(environment)
    if llm is None:
        llm = _by_environment[environment] = LlmStats()
        install(environment, llm)
    return llm


def install(environment: Any, llm: LlmStats) -> None:
    """Feed, ship, merge, clear and reset `llm` along with Locust's own stats; write it at quit."""
    ev = environment.events

    def on_report_to_master(data: dict[str, Any], **_: Any) -> None:
        data[REPORT_KEY] = llm.report()

    def on_worker_report(data: dict[str, Any], **_: Any) -> None:
        llm.merge(data.get(REPORT_KEY, []))

    def on_spawning_complete(**_: Any) -> None:
        if environment.reset_stats:  # Locust's --reset-stats resets its stats here
            llm.reset()

    ev.report_to_master.add_listener(on_report_to_master)
    ev.worker_report.add_listener(on_worker_report)
    ev.test_start.add_listener(lambda **_: llm.clear())
    ev.spawning_complete.add_listener(on_spawning_complete)
    ev.reset_stats.add_listener(lambda **_: llm.reset())
    if isinstance(environment.runner, WorkerRunner):
        ev.test_stop.add_listener(lambda **_: report_now(environment.runner))
    else:
        ev.quit.add_listener(lambda **_: finish(environment, llm))


def report_now(runner: Any) -> None:
    """A worker's stats report when its users have stopped. Locust's worker reports every 3 s and
    at quit, which its master awaits for 0.5 s; sent here, ahead of the records' FLUSHED message
    that the master waits for (plugin.py), the master's final numbers include every request."""
    runner._send_stats()  # Locust's own report (report_to_master listeners included)


def finish(environment: Any, llm: LlmStats) -> None:
    """At quit, after Locust's own summary: the LLM table and CSV files."""
    opts = environment.parsed_options
    prefix = getattr(opts, "csv_prefix", None)
    if prefix:
        try:
            write_csv(Path(prefix + LLM_CSV_SUFFIX), csv_header(), csv_rows(llm))
            rewrite_locust_csv(environment, prefix)
        except OSError as exc:  # a full disk: the run has already said so about its records
            print(f"loadgen: error: cannot write {prefix}_*.csv: {exc.strerror or exc}",
                  file=sys.stderr, flush=True)  # fmt: skip
    if not (getattr(opts, "json", False) or getattr(opts, "json_file", None)):
        for line in summary_lines(llm):  # where Locust printed its summary
            console_logger.info(line)
        console_logger.info("")


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    _replace(path, lambda writer: writer.writerows([header, *rows]))


def rewrite_locust_csv(environment: Any, prefix: str) -> None:
    """Locust's final numbers in its --csv files. Its writer runs once a second until the
    process exits, so the last second's requests can be missing from them (locust#2299)."""
    stats_csv = StatsCSV(environment, PERCENTILES_TO_REPORT)
    _replace(Path(prefix + "_stats.csv"), stats_csv.requests_csv)
    _replace(Path(prefix + "_failures.csv"), stats_csv.failures_csv)
    _replace(Path(prefix + "_exceptions.csv"), stats_csv.exceptions_csv)


def _replace(path: Path, write: Callable[[Any], Any]) -> None:
    """Write a new file, then rename it over `path`: a writer still holding the old one (Locust's,
    until it closes its files) cannot touch the new one."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as out:  # the same open mode as Locust's CSV files
            write(csv.writer(out))
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
