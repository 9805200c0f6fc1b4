"""Recall by needle position: counts per bin from the rows' needles, the figure and CSV
drawn by ``niah report`` for many-needle runs only, and summaries split per task."""

from __future__ import annotations

from pathlib import Path

import pytest

from niah.analysis import load_results, summarize
from niah.report.build import build_report
from niah.report.positions import has_many_needles, position_table
from niah.results import NeedleResult, ResultRow
from tests.report.factory import make_row, manifest, write_run


def spread(row: ResultRow, lost: range) -> ResultRow:
    """``row``'s 20 needles spread evenly over the context; those at ``lost`` missed."""
    n = len(row.needles)
    needles = [NeedleResult(text=f"The number for k{k} is {k}.", answer=str(k), key=f"k{k}",
                            token_offset=row.context_tokens * k // n, actual_depth=100 * k / n,
                            found=k not in lost) for k in range(n)]
    return row.model_copy(update={"needles": needles, "score": (n - len(lost)) / n})


def test_position_bins_count_each_needle_where_it_was(tmp_path: Path) -> None:
    rows = [spread(make_row(1000, 0, needles=20), range(8, 12)),  # 40%-60%: lost
            spread(make_row(2000, 0, needles=20), range(8, 10)),
            make_row(4000, 0, needles=20, error=True)]  # an API error adds nothing
    df = load_results(write_run(tmp_path / "run", rows))
    table = position_table(df, bins=10)
    assert table["needles"].tolist() == [4] * 10  # 2 needles per bin per scored trial
    assert table["found"].tolist() == [4, 4, 4, 4, 0, 2, 4, 4, 4, 4]
    assert table.loc[4, "recall"] == 0 and table.loc[4, "recall_high"] < 0.6
    assert table.loc[0, "recall"] == 1 and table.loc[0, "recall_low"] > 0.4


def test_report_draws_position_figure_only_for_many_needles(tmp_path: Path) -> None:
    many = [spread(make_row(n, 0, needles=20, model=m), range(5, 15))
            for m in ("openai/gpt-4o", "gemini/gemini-2.5-pro") for n in (1000, 2000)]
    report = build_report([write_run(tmp_path / "many", many)])
    names = {p.name for p in report.files}
    assert {"by_position.png", "by_position.csv", "multi_needle.png"} <= names
    page = (report.out_dir / "report.html").read_text()
    assert "Recall by needle position" in page and "Multi-needle recall" in page
    few = build_report([write_run(tmp_path / "few", [make_row(1000, 50, needles=3)])])
    assert "by_position.png" not in {p.name for p in few.files}
    assert not has_many_needles(load_results(tmp_path / "few"))


def test_summary_is_per_task_when_runs_hold_several(tmp_path: Path) -> None:
    needle = write_run(tmp_path / "needle", [make_row(n, 0, 1.0) for n in (1000, 2000, 4000)],
                       manifest({"openai/gpt-4o": "tiktoken:o200k_base"}))
    other = write_run(tmp_path / "vt", [make_row(n, 0, s) for n, s in
                                        ((1000, 1.0), (2000, 0.5), (4000, 0.0))],
                      {**manifest({"openai/gpt-4o": "tiktoken:o200k_base"}),
                       "config": {"task": {"name": "ruler/vt"}}})
    summary = summarize(load_results(needle, other)).set_index("model")
    assert list(summary.index) == ["openai/gpt-4o [needle]", "openai/gpt-4o [ruler/vt]"]
    assert summary["task"].tolist() == ["needle", "ruler/vt"]
    assert summary.loc["openai/gpt-4o [needle]", "effective_context_length"] == 4000
    assert summary.loc["openai/gpt-4o [ruler/vt]", "effective_context_length"] == 1000
    alone = summarize(load_results(needle))
    assert alone["model"].tolist() == ["openai/gpt-4o"] and alone["task"].tolist() == ["needle"]


@pytest.mark.parametrize(("config", "task"), [
    ({"task": "ruler/cwe"}, "ruler/cwe"), ({"task": {"name": "x"}}, "x"), ({}, "needle")])
def test_task_of_manifest_forms(tmp_path: Path, config: dict[str, object], task: str) -> None:
    run = write_run(tmp_path / "r", [make_row(1000, 0)],
                    {**manifest({"openai/gpt-4o": "x"}), "config": config})
    assert load_results(run)["task"].tolist() == [task]
