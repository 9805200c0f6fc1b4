"""The HTML report in headless Chromium: it renders from disk and no model output runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from niah.report.build import build_report
from tests.report.factory import HOSTILE, make_row, quickstart_rows, write_run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,2000",
]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    rows = quickstart_rows()
    rows += [make_row(8000, 10 * k, 0.0, response=text) for k, text in enumerate(HOSTILE)]
    rows += [make_row(1000, 0, 1.0, model="anthropic/claude")]
    run = write_run(tmp_path_factory.mktemp("run"), rows, {"experiment": {"name": "demo"}})
    return build_report([run], title="Browser check").out_dir / "report.html"


def chromium(path: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_dom_shows_hostile_output_as_text_and_runs_nothing(
    report_html: Path, tmp_path: Path
) -> None:
    result = chromium(report_html, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<title>Browser check</title>" in dom
    assert "PWNED" not in dom.split("</title>")[0]
    assert "<script" not in dom.lower()
    assert 'id="injected"' not in dom and "<h1 id=" not in dom
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=\"document.title='PWNED'\"&gt;" in dom
    # comparison + two heatmaps, all data: images; no <img src=x>
    assert dom.count("<img ") == 3
    assert dom.count('src="data:image/png;base64,') == 3
    assert dom.count("<h1") == 1


def test_screenshot_shows_the_heatmaps(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    result = chromium(report_html, tmp_path / "profile", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = imread(shot)[:, :, :3]
    assert image.shape[:2] == (2000, 1280)
    green = np.array([0x0C, 0xD7, 0x9F]) / 255
    red = np.array([0xF0, 0x49, 0x6E]) / 255
    # the embedded figures decoded and painted: many cell-coloured pixels on the page
    assert (np.abs(image - green).max(axis=2) < 0.03).sum() > 5000
    assert (np.abs(image - red).max(axis=2) < 0.03).sum() > 2000
