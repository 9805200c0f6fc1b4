"""Model output is data: hostile answers and error messages stay inert text, end to end.

A real run (the scripted backend answering with markup, and a backend whose errors
carry markup, as an API error echoing the prompt would) is stored, reported with
``niah report``, and the report is opened in headless Chromium: the DOM must show the
markup as text, hold no element it injected, and keep its title (no script ran).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from niah.backends import registry
from niah.backends.base import Backend, Completion, Request
from niah.cli.main import main
from niah.errors import PermanentModelError
from niah.results import read_rows
from tests.reliability import write_config

SCRIPT = "<script>document.title='PWNED'</script>"
IMG = "<img src=x onerror=\"document.title='PWNED'\">"
BREAKOUT = "</td></table><h1>broken</h1>"
HOSTILE = f"{SCRIPT} {IMG} {BREAKOUT}"
TITLE = "Hostile output check"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
]


class HostileErrors(Backend):
    """Fails every trial with markup in the message (a provider echoing the prompt)."""

    async def generate(self, request: Request) -> Completion:
        raise PermanentModelError(f"invalid request: {HOSTILE}", kind="bad_request", status=400)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
        patch.setitem(registry._registered, "hostile", HostileErrors)
        models = [{"id": "scripted/markup", "options": {"reply": HOSTILE}}, "hostile/errors"]
        cfg = write_config(tmp_path, models, max_error_rate=1.0)
        out = tmp_path / "out"
        # hostile/errors fails every trial, so the run fails (exit 1); its rows are kept
        assert main(["run", str(cfg), "--out", str(out)]) == 1
        assert main(["report", str(out), "--title", TITLE]) == 0
    rows = read_rows(out)
    assert {r.response for r in rows if r.model == "scripted/markup"} == {HOSTILE}
    assert all(r.error and HOSTILE in r.error.message for r in rows if r.model == "hostile/errors")
    return out / "report"


def test_the_report_file_escapes_every_hostile_string(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    for raw in (SCRIPT, IMG, BREAKOUT):
        assert raw not in page
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert "&lt;/td&gt;&lt;/table&gt;&lt;h1&gt;broken&lt;/h1&gt;" in page
    assert page.count("<h1") == 1 and page.lower().count("<script") == 0
    summary = (report_dir / "summary.csv").read_text(encoding="utf-8")
    assert "scripted/markup" in summary


@pytest.mark.browser
def test_chromium_runs_no_script_and_shows_the_markup_as_text(
    report_dir: Path, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (report_dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert f"<title>{TITLE}</title>" in dom  # document.title never became PWNED
    assert "<script" not in dom.lower()
    assert dom.count("<h1") == 1 and "<h1>broken</h1>" not in dom
    assert dom.count("<img ") == dom.count('src="data:image/png;base64,') > 0  # no <img src=x>
    assert "&lt;img src=x onerror=\"document.title='PWNED'\"&gt;" in dom
    shown = dom.count("&lt;script&gt;document.title='PWNED'&lt;/script&gt;")
    assert shown >= 2  # in a missed answer and in an error message
    assert "&lt;/td&gt;&lt;/table&gt;&lt;h1&gt;broken&lt;/h1&gt;" in dom


def test_markup_in_model_ids_and_paths_prints_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal is an output too: rich markup in an id or a path is shown, not obeyed
    (it used to vanish, or crash the run with a MarkupError traceback)."""
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    cfg = write_config(tmp_path, "scripted/x[/][bold]", lengths=[100], depths=[50])
    out = tmp_path / "[red]run"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "scripted/x[/][bold]" in printed.out and "scripted/x[/][bold]" in printed.err
    assert f"results: {out / 'results.jsonl'}" in printed.out
    assert main(["report", str(out)]) == 0
    assert "scripted/x[/][bold]" in capsys.readouterr().out
