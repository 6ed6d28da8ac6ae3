"""The self-contained HTML page and the charts: four charts, inline SVG, no external resources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadgen.report.html import render_page
from loadgen.report.plots import build_charts, png_bytes, svg_text
from loadgen.report.runs import load_runs
from loadgen.report.tables import level_table
from tests.fixtures.results_dirs import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_four_charts_render_to_png_and_svg(tmp_path: Path) -> None:
    runs = load_runs([write_run(tmp_path, "a", "ollama"), write_run(tmp_path, "b", "vllm")])
    charts = build_charts(runs)
    assert [c.name for c in charts] == [
        "throughput_vs_users",
        "ttft_vs_users",
        "vram_vs_users",
        "ttft_over_time",
    ]
    throughput = charts[0].figure.axes[0]
    assert [line.get_label() for line in throughput.get_lines()] == ["ollama", "vllm"]
    assert list(throughput.get_lines()[1].get_ydata()) == [60.0, 150.0, 155.0]
    for chart in charts:
        assert png_bytes(chart).startswith(PNG_MAGIC)
        assert svg_text(chart).startswith("<svg")


def test_page_is_self_contained(tmp_path: Path) -> None:
    runs = load_runs([write_run(tmp_path, "a", "ollama")])
    charts = [(c.title, svg_text(c)) for c in build_charts(runs)]
    page = render_page("t <&>", [level_table(runs[0])], charts, ["note"])
    assert page.count('<figure class="chart"') == 4
    assert "<title>t &lt;&amp;&gt;</title>" in page
    assert not re.search(r"<script|<link|@import|src=\"http|href=\"http", page)
    assert "<td>155</td>" in page


def test_ttft_breakdown_chart_stacks_each_levels_means(tmp_path: Path) -> None:
    runs = load_runs([write_run(tmp_path, "a", "vllm", breakdown=True)])
    charts = build_charts(runs)
    assert [c.name for c in charts][-1] == "ttft_breakdown"
    ax = charts[-1].figure.axes[0]
    heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
    # per level bottom up: queue, prefill, the rest of the server's TTFT, the client's share
    want = [[0.5 * t, 0.3 * t, 0.1 * t, 0.1 * t] for t in (45.0, 900.0, 3200.0)]
    assert heights == pytest.approx([h for level in want for h in level])
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "queue",
        "prefill",
        "other server",
        "client (network, HTTP, API server)",
    ]
    assert png_bytes(charts[-1]).startswith(PNG_MAGIC)
