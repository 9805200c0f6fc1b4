"""``build_report``'s tables: the CSV files agree with the heatmaps and with each other."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from niah.analysis import CELL_COLUMNS, grid, load_results
from niah.errors import UserError
from niah.report.build import build_report
from niah.stats import wilson_interval
from niah.tidy import COMPARISON_COLUMNS
from tests.report.factory import answer_error_rows, make_row, quickstart_rows, write_run


def test_cells_csv_holds_what_each_heatmap_is_drawn_from(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", quickstart_rows() + answer_error_rows())
    out = build_report([run]).out_dir
    cells = pd.read_csv(out / "cells.csv")
    assert list(cells.columns) == list(CELL_COLUMNS)
    df = load_results(run)
    for model, part in cells.groupby("model", sort=False):
        for value, column in [("score", "recall"), ("errors", "errors"),
                              ("unanswered", "unanswered"), ("trials", "trials")]:
            pivot = part.pivot(index="requested_depth", columns="context_length",
                               values=column)
            pd.testing.assert_frame_equal(pivot, grid(df, str(model), value),  # type: ignore[arg-type]
                                          check_names=False, check_dtype=False)
    # an every-error cell: no recall and no interval, written as empty fields
    gpt = cells[(cells["model"] == "openai/gpt-4o") & (cells["context_length"] == 2000)
                & (cells["requested_depth"] == 0)].iloc[0]
    assert (gpt["trials"], gpt["errors"], gpt["needles"]) == (2, 2, 0)
    assert math.isnan(gpt["recall"]) and math.isnan(gpt["recall_low"])


def test_by_length_and_by_depth_csv_carry_intervals(tmp_path: Path) -> None:
    rows = [make_row(n, d, float(r < k), repeat=r) for n, k in [(1000, 10), (8000, 6)]
            for d in (0, 100) for r in range(10)]
    out = build_report([write_run(tmp_path / "run", rows)], confidence=0.9).out_dir
    by_length = pd.read_csv(out / "by_length.csv").set_index("context_length")
    assert by_length.loc[8000, ["needles", "found", "recall"]].tolist() == [20, 12, 0.6]
    assert (by_length.loc[8000, "recall_low"], by_length.loc[8000, "recall_high"]) == (
        pytest.approx(wilson_interval(12, 20, 0.9)))
    by_depth = pd.read_csv(out / "by_depth.csv").set_index("requested_depth")
    assert by_depth.loc[100.0, ["needles", "found"]].tolist() == [20, 16]
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["recall"] == pytest.approx(32 / 40) and summary["confidence"] == 0.9
    assert (summary["recall_low"], summary["recall_high"]) == pytest.approx(
        wilson_interval(32, 40, 0.9))
    assert json.loads(summary["recall_by_length"]) == {"1000": 1.0, "8000": 0.6}


def test_summary_csv_has_both_effective_lengths_and_where_they_break(tmp_path: Path) -> None:
    rows = [make_row(n, 0, float(r < k), repeat=r)
            for n, k in [(1000, 9), (2000, 8), (4000, 7), (8000, 5)] for r in range(10)]
    run = write_run(tmp_path / "run", rows)
    summary = pd.read_csv(build_report([run]).out_dir / "summary.csv").iloc[0]
    # relative: bar 0.85 x 0.9 = 0.765, 4K (0.7) breaks it; absolute: 0.856, 2K (0.8)
    assert summary["effective_context_length"] == 2000 and summary["relative_breaks_at"] == 4000
    assert summary["relative_bar"] == pytest.approx(0.765) and summary["threshold"] == 0.85
    assert summary["absolute_effective_context_length"] == 1000
    assert summary["absolute_breaks_at"] == 2000 and summary["absolute_threshold"] == 0.856
    loose = pd.read_csv(build_report([run], out=tmp_path / "loose", threshold=0.5,
                                     absolute_threshold=0.5).out_dir / "summary.csv").iloc[0]
    assert loose["effective_context_length"] == 8000 and pd.isna(loose["relative_breaks_at"])
    assert loose["absolute_effective_context_length"] == 8000
    assert pd.isna(loose["absolute_breaks_at"])


def test_comparison_csv_and_section_only_with_two_models(tmp_path: Path) -> None:
    one = build_report([write_run(tmp_path / "one", quickstart_rows())])
    assert not (one.out_dir / "comparison.csv").exists()
    page = (one.out_dir / "report.html").read_text(encoding="utf-8")
    assert "Effective context length" in page and "Differences between models" not in page
    rows = [make_row(1000, 0, float(r < 9), model="a/strong", repeat=r) for r in range(10)]
    rows += [make_row(1000, 0, float(r < 3), model="b/weak", repeat=r) for r in range(10)]
    two = build_report([write_run(tmp_path / "two", rows)])
    comparison = pd.read_csv(two.out_dir / "comparison.csv")
    assert list(comparison.columns) == [*COMPARISON_COLUMNS[:2], "context_length",
                                        *COMPARISON_COLUMNS[2:]]
    assert comparison[["model_a", "model_b", "context_length"]].values.tolist() == [
        ["a/strong", "b/weak", 1000]]
    assert comparison.loc[0, ["difference", "difference_low", "difference_high"]].tolist() == (
        pytest.approx([0.6, 0.1705, 0.8090], abs=5e-5))  # Newcombe 1998b, example b
    assert not comparison.loc[0, "within_noise"]
    page = (two.out_dir / "report.html").read_text(encoding="utf-8")
    assert "<h3>a/strong vs b/weak</h3>" in page and "<b>a/strong</b> higher" in page


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("absolute_threshold", 0.0, "--absolute-threshold"), ("confidence", 1.0, "--confidence"),
     ("confidence", 0.0, "--confidence")],
)
def test_bad_levels_are_user_errors(
    tmp_path: Path, option: str, value: float, message: str
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows())
    with pytest.raises(UserError, match=message):
        build_report([run], **{option: value})  # type: ignore[arg-type]
