"""``niah report`` through ``niah.cli.main``: files written, table printed, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from niah.cli import main as cli_main
from tests.report.factory import answer_error_rows, make_row, manifest, quickstart_rows, write_run


@pytest.fixture(autouse=True)
def only_report_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the parser from these commands alone, so other commands' modules don't matter."""
    monkeypatch.setattr(cli_main, "COMMANDS", ("report", "import_"))
    monkeypatch.delenv("NIAH_DEBUG", raising=False)


def test_report_writes_heatmap_summary_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows(), {"experiment": {"name": "demo"}})
    assert cli_main.main(["report", str(run)]) == 0
    out = run / "report"
    assert sorted(p.name for p in out.iterdir()) == [
        "by_depth.csv", "by_length.csv", "cells.csv", "heatmap_openai_gpt-4o.png",
        "report.html", "summary.csv"]
    image = imread(out / "heatmap_openai_gpt-4o.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "model"] == "openai/gpt-4o"
    assert summary.loc[0, "recall"] == pytest.approx(0.625)
    assert summary.loc[0, "errors"] == 3
    assert json.loads(summary.loc[0, "recall_by_length"]) == {"1000": 0.5, "2000": 1.0, "4000": 0.5}
    stdout = capsys.readouterr().out
    assert "openai/gpt-4o" in stdout and "62.5%" in stdout and "report.html" in stdout
    assert not list(out.glob(".*.tmp"))


def test_several_runs_formats_and_out_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_run(tmp_path / "a", quickstart_rows())
    b = write_run(tmp_path / "b", quickstart_rows(model="anthropic/claude"))
    out = tmp_path / "out"
    code = cli_main.main(["report", str(a), str(b), "--out", str(out), "--format", "png,svg,pdf",
                          "--title", "Two models", "--split-at", "2K"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("heatmap_openai_gpt-4o", "heatmap_anthropic_claude", "comparison"):
        assert {f"{stem}.png", f"{stem}.svg", f"{stem}.pdf"} <= names
    assert (out / "comparison.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (out / "comparison.svg").read_bytes()
    assert not (a / "report").exists()


def test_multi_needle_runs_get_the_recall_curve(tmp_path: Path) -> None:
    rows = [make_row(n, 0, 0.5, needles=4) for n in (1000, 2000)]
    run = write_run(tmp_path / "run", rows)
    assert cli_main.main(["report", str(run)]) == 0
    assert (run / "report" / "multi_needle.png").is_file()


def test_torn_last_line_warns_and_still_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows(), tail='{"trial_id": "t-9')
    assert cli_main.main(["report", str(run)]) == 0
    assert "line 12 is torn (an interrupted write): skipped" in caplog.text
    assert (run / "report" / "report.html").is_file()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such run directory"),
        ("no_results", "no results.jsonl"),
        ("empty", "holds no results"),
    ],
)
def test_bad_run_dirs_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    run = tmp_path / "run"
    if setup != "missing":
        run.mkdir()
    if setup == "empty":
        (run / "results.jsonl").write_text("", encoding="utf-8")
    assert cli_main.main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("niah: error: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "gif"], "--format"), (["--split-at", "big"], "--split-at"),
     (["--threshold", "1.5"], "--threshold"),
     (["--absolute-threshold", "85.6"], "--absolute-threshold"),
     (["--confidence", "95"], "--confidence")],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows())
    assert cli_main.main(["report", str(run), *args]) == 2
    assert message in capsys.readouterr().err


def test_thresholds_and_confidence_reach_the_tables(tmp_path: Path) -> None:
    rows = [make_row(n, 0, float(r < k), repeat=r)
            for n, k in [(1000, 10), (2000, 9), (4000, 8)] for r in range(10)]
    run = write_run(tmp_path / "run", rows)
    args = ["report", str(run), "--threshold", "0.85", "--absolute-threshold", "0.9",
            "--confidence", "0.9"]
    assert cli_main.main(args) == 0
    summary = pd.read_csv(run / "report" / "summary.csv").iloc[0]
    assert summary["effective_context_length"] == 2000 and summary["relative_breaks_at"] == 4000
    assert summary["absolute_effective_context_length"] == 2000
    assert summary["absolute_threshold"] == 0.9 and summary["confidence"] == 0.9
    by_length = pd.read_csv(run / "report" / "by_length.csv").set_index("context_length")
    assert by_length.loc[4000, "recall_low"] == pytest.approx(0.5408, abs=1e-4)  # 8/10, 90%


def test_model_ids_are_printed_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = "x/[bold red]not markup[/bold red]"
    run = write_run(tmp_path / "run", [make_row(1000, 0, 1.0, model=model)])
    assert cli_main.main(["report", str(run)]) == 0
    assert model in capsys.readouterr().out
    assert (run / "report" / "heatmap_x_bold_red_not_markup_bold_red.png").is_file()


def test_summary_counts_unanswered_and_flags_lengths_and_token_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claude = "anthropic/claude-3-5-sonnet"
    rows = answer_error_rows(claude)
    rows += [make_row(n, 100, 1.0, model=claude, reported=round((n + 50) * 1.2))
             for n in (1000, 2000, 4000)]
    rows += quickstart_rows()
    run = write_run(tmp_path / "run", rows, manifest(
        {claude: "tiktoken:cl100k_base", "openai/gpt-4o": "tiktoken:o200k_base"}))
    assert cli_main.main(["report", str(run)]) == 0
    summary = pd.read_csv(run / "report" / "summary.csv").set_index("model")
    assert summary.loc[claude, "errors"] == 4 and summary.loc[claude, "unanswered"] == 4
    assert summary.loc[claude, "recall"] == pytest.approx(5 / 6)
    assert summary.loc[claude, "lengths"] == "approximate"
    assert summary.loc[claude, "tokenizer"] == "tiktoken:cl100k_base"
    assert summary.loc[claude, "token_mismatch_rows"] == 3
    assert summary.loc[claude, "token_mismatch_ratio"] == pytest.approx(1.2, abs=1e-3)
    assert "median ratio 1.200" in summary.loc[claude, "token_mismatch"]
    gpt = summary.loc["openai/gpt-4o"]
    assert (gpt["errors"], gpt["unanswered"], gpt["lengths"]) == (3, 0, "exact")
    assert gpt["token_mismatch_rows"] == 0 and pd.isna(gpt["token_mismatch"])
    out, err = capsys.readouterr()
    assert "Unanswered" in out and "4 (28.6%)" in out
    lines = err.splitlines()
    assert f"niah: warning: {claude}: the server counted prompts differently" in err
    assert [line.split(":")[1] for line in lines] == [" warning", " note"]
    assert lines[1].startswith(f"niah: note: {claude}: lengths are counted in cl100k_base")


def test_an_experiment_folder_reports_its_latest_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "results" / "demo"
    meta = manifest({"openai/gpt-4o": "tiktoken:o200k_base"})
    write_run(folder / "20250101T000000Z", quickstart_rows(model="old/model"), meta)
    newest = write_run(folder / "20250102T000000Z", quickstart_rows(), meta)
    # the same run named twice (as results/demo and by its own name) is read once
    assert cli_main.main(["report", str(folder), str(newest)]) == 0
    out = capsys.readouterr().out
    assert f"{folder}: its latest run is {newest}" in out
    assert "old/model" not in out
    summary = pd.read_csv(newest / "report" / "summary.csv")
    assert list(summary["model"]) == ["openai/gpt-4o"]
    assert summary.loc[0, "trials"] == len(quickstart_rows())  # not twice as many


def test_imports_show_judge_scores_and_estimated_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = Path(__file__).parents[1] / "data" / "gkamradt" / "original_results"
    out = tmp_path / "imported"
    assert cli_main.main(["import", "gkamradt", str(data), "--out", str(out),
                          "--model", "gpt-4-1106-preview"]) == 0
    capsys.readouterr()
    assert cli_main.main(["report", str(out)]) == 0
    table = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in table.splitlines() if line.startswith("│")}
    judges = [10, 10, 10, 10, 10, 3, 3, 10, 1, 10, 10, 1, 10, 3, 10]  # the GPT-4 excerpt
    assert rows["gkamradt/claude-2.1"][:3] == ["8.7/10", "1K (est.)", "200K (est.)"]
    assert rows["gkamradt/gpt-4-1106-preview"][0] == f"{sum(judges) / len(judges):.1f}/10"
    header = [line for line in table.splitlines() if line.startswith("┃")]
    assert "Recall /" in header[0] and "judge" in header[1]
    assert (out / "report" / "comparison.png").is_file()


def test_scripted_fakes_are_named_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows(model="scripted/perfect"))
    assert cli_main.main(["report", str(run)]) == 0
    assert "scripted/perfect (scripted fake, not a model)" in capsys.readouterr().out


def test_annotate_writes_values_and_no_annotate_leaves_cells_plain(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", quickstart_rows())
    dark = {}
    for flag in ("--annotate", "--no-annotate"):
        out = tmp_path / flag.strip("-")
        assert cli_main.main(["report", str(run), flag, "--out", str(out)]) == 0
        image = imread(out / "heatmap_openai_gpt-4o.png")[:, :, :3]
        dark[flag] = int((image.max(axis=2) < 0.2).sum())  # black text: values, labels
    assert dark["--annotate"] > dark["--no-annotate"] + 200
