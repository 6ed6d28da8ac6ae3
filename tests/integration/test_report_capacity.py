"""`loadgen report` on a real `loadgen capacity` run, opened in headless Chromium: the search's
figure (probes, SLO line, knee, first failing probe) and the answer are on the page."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.capacity import CapacitySearch
from tests.fixtures.net import loadgen_cmd
from tests.integration.test_report_browser import N_CHARTS, _browser

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def capacity_report(
    capacity_search: CapacitySearch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("capacity-report") / "report"
    done = subprocess.run(
        loadgen_cmd("report", str(capacity_search.results), "--out", str(out)),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "capacity_search.png").is_file()
    return out / "report.html"


def test_the_page_draws_the_search_and_gives_the_answer(
    tmp_path: Path, capacity_report: Path
) -> None:
    dom = _browser(tmp_path, "--dump-dom", capacity_report.as_uri()).stdout
    figures = re.findall(r'<figure class="chart" title="([^"]*)">(.*?)</figure>', dom, flags=re.S)
    assert len(figures) == N_CHARTS + 1  # the scaling curves, then the search
    title, svg = figures[-1]
    assert title.startswith("Capacity search: ")
    assert "<svg" in svg and svg.count("<path") > 20  # probes, lines, legend: drawn, not blank
    (answer,) = re.findall(r'<section class="capacity">(.*?)</section>', dom, flags=re.S)
    text = html.unescape(answer)
    assert "capacity: 4 users (bracket within 1 user) for ttft_p95_ms<=100" in text
    assert "first failing probe: 5 users" in text
    assert re.search(r"^2\s+8 users\s+broke ttft_p95_ms", text, flags=re.M)
    assert dom.index('<section class="capacity">') < dom.index("Per-level results")


def test_the_search_figure_has_the_colours_of_held_and_broken_probes(
    tmp_path: Path, capacity_report: Path
) -> None:
    from PIL import Image

    png = Image.open(capacity_report.parent / "capacity_search.png").convert("RGB")
    colours = {rgb for _, rgb in png.getcolors(maxcolors=1 << 20) or []}
    assert (0x2A, 0x9D, 0x4B) in colours  # held probes and the capacity line
    assert (0xD1, 0x34, 0x2F) in colours  # broken probes, the SLO line, the first failing ring
