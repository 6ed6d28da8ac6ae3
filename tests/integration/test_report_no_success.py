"""`loadgen report` on a run in which no request succeeded: one line on stderr, exit 1."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from loadgen.results import REQUESTS_FILE, RequestLog, read_requests, read_summary, write_summary
from tests.fixtures.net import loadgen_cmd
from tests.fixtures.results_dirs import write_run


def _all_failed(root: Path) -> Path:
    """A run of three levels of 20 requests each, every one of them failed."""
    path = write_run(root, "dead", "vllm")
    summary = read_summary(path)
    levels = tuple(
        replace(lv, errors=lv.requests, error_rate=1.0, req_s=0.0, output_tok_s=0.0)
        for lv in summary.levels
    )
    write_summary(path, replace(summary, levels=levels))
    records = [replace(r, ok=False, error_type="connect", n_out=0) for r in read_requests(path)]
    (path / REQUESTS_FILE).unlink()
    log = RequestLog(path)
    for record in records:
        log.write(record)
    log.close()
    return path


def test_report_of_a_run_without_a_success_says_so_and_exits_1(tmp_path: Path) -> None:
    dead, fine = _all_failed(tmp_path), write_run(tmp_path, "fine", "ollama")
    result = subprocess.run(
        loadgen_cmd("report", str(fine), str(dead), "--out", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"loadgen: {dead}: no successful request in any level (60 failed request(s) recorded);"
        " its tables and charts are empty"
    ]
    assert (tmp_path / "out" / "report.html").is_file()  # the other run is still reported
