"""``niah import gkamradt PATH --out DIR`` through ``niah.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.cli import main as cli_main

DATA = Path(__file__).parents[1] / "data" / "gkamradt"


@pytest.fixture(autouse=True)
def only_report_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "COMMANDS", ("report", "import_"))
    monkeypatch.delenv("NIAH_DEBUG", raising=False)


def test_import_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "imported"
    assert cli_main.main(["import", "gkamradt", str(DATA / "v2"), "--out", str(out),
                          "--provider", "anthropic"]) == 0
    assert "imported 4 results" in capsys.readouterr().out
    assert cli_main.main(["report", str(out)]) == 0
    assert (out / "report" / "heatmap_anthropic_claude-3-opus-20240229.png").is_file()
    assert "anthropic/claude-3-opus-20240229" in capsys.readouterr().out


def test_import_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["import", "gkamradt", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "o")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    for argv in (["import", "other", str(DATA), "--out", str(tmp_path / "o")],
                 ["import", "gkamradt", str(DATA / "v1")]):  # unknown format; --out is required
        with pytest.raises(SystemExit) as exit_info:
            cli_main.main(argv)
        assert exit_info.value.code == 2
