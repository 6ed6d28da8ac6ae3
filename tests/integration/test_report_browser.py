"""The HTML report opened in headless Chromium: the charts really render (not blank, all five:
the four of every run and where the TTFT goes, which one run has)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.fixtures.net import loadgen_cmd
from tests.fixtures.results_dirs import write_run

N_CHARTS = 5
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,2400",
)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (scripts/test.sh installs it)")
    return path


def _browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def report_html(tmp_path: Path) -> Path:
    a = write_run(tmp_path, "r-ollama", "ollama")
    b = write_run(
        tmp_path, "r-vllm", "vllm", tok_s=(71, 485, 920), vram_gb=(16.1, 20.0, 21.8), breakdown=True
    )
    out = tmp_path / "report"
    done = subprocess.run(
        loadgen_cmd("report", str(a), str(b), "--out", str(out)), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return out / "report.html"


def test_dom_holds_every_chart_as_svg(tmp_path: Path, report_html: Path) -> None:
    dom = _browser(tmp_path, "--dump-dom", report_html.as_uri()).stdout
    figures = re.findall(r'<figure class="chart".*?</figure>', dom, flags=re.S)
    assert len(figures) == N_CHARTS
    assert all("<svg" in f and "<path" in f for f in figures)
    (breakdown,) = [f for f in figures if 'title="Where the TTFT goes (means)"' in f]
    assert breakdown.count("<path") > 12  # 3 levels x 4 stacked segments, axes and legend


def test_screenshot_shows_charts(tmp_path: Path, report_html: Path) -> None:
    shot = tmp_path / "shot.png"
    _browser(tmp_path, f"--screenshot={shot}", report_html.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2400)
    # The charts sit below the tables; each 640 px wide chart has coloured lines on white.
    lower = image.crop((0, image.height // 3, image.width, image.height))
    assert max(ImageStat.Stat(lower).stddev) > 5  # not one flat colour (a blank page is 0)
    colours = lower.getcolors(maxcolors=1 << 20) or []
    coloured = sum(n for n, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 80)
    assert coloured > 2000  # the blue and orange series, not just black text and grey grid
