"""`loadgen report` and `loadgen compare` as a user runs them: real processes, real files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.net import loadgen_cmd
from tests.fixtures.results_dirs import write_run

CHARTS = ("throughput_vs_users", "ttft_vs_users", "vram_vs_users", "ttft_over_time")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(loadgen_cmd(*args), capture_output=True, text=True, timeout=120)


def test_report_writes_html_and_pngs(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "r1", "ollama")
    result = _run("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert "| 50    |" in result.stdout and "3,200" in result.stdout
    out = run_dir / "report"
    html = (out / "report.html").read_text()
    assert html.count('<figure class="chart"') == len(CHARTS)
    for name in CHARTS:
        assert (out / f"{name}.png").read_bytes().startswith(PNG_MAGIC)


def test_compare_prints_reference_layout_and_writes_charts(tmp_path: Path) -> None:
    a = write_run(tmp_path, "r-ollama", "ollama")
    b = write_run(
        tmp_path,
        "r-vllm",
        "vllm",
        tok_s=(71, 485, 920),
        ttft_ms=(82, 120, 145),
        vram_gb=(16.1, 20.0, 21.8),
    )
    out = tmp_path / "cmp"
    result = _run("compare", str(a), str(b), "--out", str(out))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| users"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "users",
        "ollama tok/s",
        "vllm tok/s",
        "vllm/ollama",
        "ollama TTFT p50/p95 ms",
        "vllm TTFT p50/p95 ms",
        "ollama VRAM GB",
        "vllm VRAM GB",
    ]
    row_50 = next(line for line in result.stdout.splitlines() if line.startswith("| 50 "))
    assert "5.94x" in row_50 and "21.8" in row_50
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.html", *(f"{n}.png" for n in CHARTS)]
    )


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: d / "missing", "not a results directory"),
        (lambda d: _damaged(d, "summary.json", "{oops"), "not valid JSON"),
        (lambda d: _damaged(d, "requests.jsonl", None), "requests.jsonl: missing"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, setup: object, expected: str) -> None:
    path = setup(tmp_path)  # type: ignore[operator]
    for args in (("report", str(path)), ("compare", str(path), str(path))):
        result = _run(*args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and expected in result.stderr


def _damaged(root: Path, name: str, text: str | None) -> Path:
    path = write_run(root, "r1", "ollama")
    if text is None:
        (path / name).unlink()
    else:
        (path / name).write_text(text)
    return path
