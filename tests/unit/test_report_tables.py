"""Report tables: the per-level table and the reference-table layout of `loadgen compare`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from loadgen.level_summary import LevelSummary
from loadgen.levels import Level
from loadgen.report.runs import RunData
from loadgen.report.tables import (
    comparison_table,
    fmt_gb,
    fmt_num,
    fmt_ratio,
    level_table,
    render_text,
)
from tests.fixtures.results_dirs import LEVEL_S, level_row


def _row(users: int, tok_s: float, ttft: float, vram_gb: float | None) -> LevelSummary:
    level = level_row(Level(0, users, 0, 0, LEVEL_S * 10**9), tok_s, ttft)
    vram = None if vram_gb is None else int(vram_gb * 1e9)
    tail = {"ttft_p95_ms": ttft * 2, "ttft_p99_ms": ttft * 3, "e2e_p95_ms": ttft * 10}
    return replace(level, req_s=1.5, vram_peak_bytes=vram, **tail)


def _run(label: str, rows: list[LevelSummary]) -> RunData:
    return RunData(label + "-id", label, Path("/x"), tuple(rows), (), 0, None)


OLLAMA = _run("ollama", [_row(1, 62, 45, 5.2), _row(10, 148, 900, 5.3), _row(50, 155, 3200, 5.4)])
VLLM = _run("vllm", [_row(1, 71, 82, 16.1), _row(10, 485, 120, 20.0), _row(50, 920, 145, 21.8)])


def test_formatters() -> None:
    assert fmt_num(1234.56) == "1,235"
    assert fmt_num(1.5, 2) == "1.50"
    assert fmt_num(None) == "-"
    assert fmt_gb(21_800_000_000) == "21.8"
    assert fmt_gb(None) == "-"
    assert fmt_ratio(920, 155) == "5.94x"
    assert fmt_ratio(1, 0) == "-"
    assert fmt_ratio(None, 3) == "-"


def test_level_table_has_one_row_per_level() -> None:
    table = level_table(OLLAMA)
    assert [r[0] for r in table.rows] == ["1", "10", "50"]
    first = dict(zip(table.header, table.rows[0], strict=True))
    assert first["output tok/s"] == "62"
    assert first["TTFT p95 ms"] == "90"
    assert first["errors %"] == "5.0"
    assert first["peak VRAM GB"] == "5.2"


def test_comparison_has_reference_layout_with_ratios() -> None:
    table = comparison_table([OLLAMA, VLLM])
    assert table.header == (
        "users",
        "ollama tok/s",
        "vllm tok/s",
        "vllm/ollama",
        "ollama TTFT p50/p95 ms",
        "vllm TTFT p50/p95 ms",
        "ollama VRAM GB",
        "vllm VRAM GB",
    )
    assert table.rows[2] == (
        "50",
        "155",
        "920",
        "5.94x",
        "3,200 / 6,400",
        "145 / 290",
        "5.4",
        "21.8",
    )


def test_comparison_marks_levels_a_run_did_not_measure() -> None:
    short = _run("fast", [_row(1, 100, 10, None)])
    table = comparison_table([OLLAMA, short])
    by_users = {r[0]: r for r in table.rows}
    assert by_users["10"][2] == "-"  # fast has no level with 10 users
    assert by_users["10"][3] == "-"  # so no ratio either
    assert by_users["1"][3] == "1.61x"
    assert by_users["1"][-1] == "-"  # no VRAM samples


def test_three_runs_give_two_ratio_columns() -> None:
    table = comparison_table([OLLAMA, VLLM, _run("sglang", [_row(1, 80, 60, 15)])])
    assert [h for h in table.header if h.endswith("/ollama")] == [
        "vllm/ollama",
        "sglang/ollama",
    ]


def test_render_text_is_an_aligned_pipe_table() -> None:
    text = render_text(comparison_table([OLLAMA, VLLM]))
    lines = text.splitlines()
    table_lines = [line for line in lines if line.startswith("|")]
    assert len(table_lines) == 2 + 3  # header, rule, three levels
    assert len({len(line) for line in table_lines}) == 1
    assert "5.94x" in text
