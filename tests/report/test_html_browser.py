"""The HTML report in headless Chromium: it renders from disk and no model output runs."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from niah.report.build import DPI, build_report
from niah.report.ticks import TICK_PT
from tests.report.factory import HOSTILE, make_row, quickstart_rows, write_run
from tests.report.test_compare import checkerboard
from tests.report.test_ticks import CLAUDE_DEPTHS, CLAUDE_LENGTHS, GPT4_DEPTHS, GPT4_LENGTHS

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


MEASURE = """<script>
window.addEventListener("load", function () {
  var page = document.documentElement, out = {
    clientWidth: page.clientWidth, scrollWidth: page.scrollWidth, images: [], tables: []};
  document.querySelectorAll("img").forEach(function (img) {
    out.images.push({alt: img.alt, css: img.getBoundingClientRect().width,
                     natural: img.naturalWidth});
  });
  document.querySelectorAll("div.wide").forEach(function (div) {
    out.tables.push({scroll: div.scrollWidth, client: div.clientWidth,
                     right: div.getBoundingClientRect().right});
  });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def gkamradt_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gkamradt's two published grids side by side: 35 x 35 to 200K and 15 x 15 to 128K."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    rows = checkerboard("gkamradt/claude-2.1", CLAUDE_LENGTHS, CLAUDE_DEPTHS)
    rows += checkerboard("gkamradt/gpt-4-1106-preview", GPT4_LENGTHS, GPT4_DEPTHS)
    run = write_run(tmp_path_factory.mktemp("run"), rows)
    return build_report([run]).out_dir / "report.html"


def measure(page: Path, tmp_path: Path, width: int = 1400) -> dict[str, Any]:
    """The page's layout at ``width`` CSS px. The report runs no script (its CSP forbids
    it), so a copy without the CSP and with a measuring script is loaded instead."""
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                  page.read_text(encoding="utf-8"))
    copy = tmp_path / "measure.html"
    copy.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    result = chromium(copy, tmp_path / "profile", "--dump-dom", f"--window-size={width},2000")
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout)
    assert found, result.stdout[-2000:]
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def test_at_1400_px_nothing_overflows_and_tick_labels_are_legible(
    gkamradt_report: Path, tmp_path: Path
) -> None:
    layout = measure(gkamradt_report, tmp_path)
    assert layout["clientWidth"] >= 1380  # 1400 less a scroll bar
    assert layout["scrollWidth"] <= layout["clientWidth"]  # no sideways scrolling of the page
    # the 35-length tables scroll inside their box; every box ends inside the page
    assert any(t["scroll"] > t["client"] for t in layout["tables"])
    assert all(t["right"] <= layout["clientWidth"] for t in layout["tables"])
    shown = {img["alt"]: img for img in layout["images"]}
    assert set(shown) == {"Models compared", "Recall heatmap of gkamradt/claude-2.1",
                          "Recall heatmap of gkamradt/gpt-4-1106-preview"}
    for alt, img in shown.items():
        # a tick label is TICK_PT points in the figure: TICK_PT * DPI / 72 pixels in the
        # PNG, drawn at css / natural of that on the page
        png_px = TICK_PT * DPI / 72
        on_page = png_px * img["css"] / img["natural"]
        assert on_page >= 10, (alt, img, on_page)
    assert "<title>Needle in a haystack: gkamradt/claude-2.1 vs gkamradt/gpt-4-1106-preview" \
        in gkamradt_report.read_text(encoding="utf-8")


def test_the_35_by_35_figures_really_have_10_pt_tick_labels(gkamradt_report: Path) -> None:
    from niah.analysis import load_results
    from niah.report.compare import plot_comparison
    from niah.report.heatmap import plot_heatmap

    df = load_results(gkamradt_report.parent.parent)
    for fig in (plot_comparison(df), plot_heatmap(df, "gkamradt/claude-2.1")):
        labels = [t for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
        assert labels and min(t.get_fontsize() for t in labels) >= TICK_PT
        assert fig.get_size_inches()[0] <= 16.0  # 1152 px at 1 pt = 1 px: fits the page
