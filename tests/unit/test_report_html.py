"""The self-contained HTML page and the charts: four charts, inline SVG, no external resources."""

from __future__ import annotations

import re
from pathlib import Path

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
