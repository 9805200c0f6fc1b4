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


def test_a_folder_import_says_per_file_what_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "imported"
    code = cli_main.main(["import", "gkamradt", str(DATA / "original_results"), "--out",
                          str(out), "--model", "gpt-4-1106-preview"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "read Anthropic_Original_Results/: 7 files, 7 results (test records) of "
        "gkamradt/claude-2.1",
        "read OpenAI_Original_Results/OpenAI_OriginalResults.json: 9 results (score list) of "
        "gkamradt/gpt-4-1106-preview (model not in the file: named by --model)",
        "read OpenAI_Original_Results/OpenAI_OriginalResults_2.json: 6 results (score list) "
        "of gkamradt/gpt-4-1106-preview (model not in the file: named by --model)",
        f"imported 22 results into {out / 'results.jsonl'}",
        f"draw them with: niah report {out}",
    ]


def test_a_score_list_without_model_exits_2_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / "original_results" / "OpenAI_Original_Results"
    assert cli_main.main(["import", "gkamradt", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == ("niah: error: OpenAI_OriginalResults.json[0]: model: the file names no "
                   "model; give it with --model NAME (e.g. --model gpt-4-1106-preview)\n")
