"""Tidy tables over every model: cells, recall by length/depth, model comparisons."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from niah.analysis import CELL_COLUMNS, cell_table, grid, recall_table, rows_frame
from niah.stats import difference_interval
from niah.tidy import COMPARISON_COLUMNS, cells_frame, compare_models, recall_frame
from tests.report.factory import make_row, quickstart_rows


def two_models() -> pd.DataFrame:
    """a/strong finds 10 of 10 needles at 1K and 9 of 10 at 2K; b/weak 9 of 10 and 3
    of 10; only a/strong ran 4K (5 of 5)."""
    rows = [make_row(1000, 0, 1.0, model="a/strong", repeat=r) for r in range(10)]
    rows += [make_row(2000, 0, float(r < 9), model="a/strong", repeat=r) for r in range(10)]
    rows += [make_row(4000, 0, 1.0, model="a/strong", repeat=r) for r in range(5)]
    rows += [make_row(1000, 0, float(r < 9), model="b/weak", repeat=r) for r in range(10)]
    rows += [make_row(2000, 0, float(r < 3), model="b/weak", repeat=r) for r in range(10)]
    return rows_frame(rows)


def test_cells_frame_is_every_models_cell_table_and_grid() -> None:
    df = rows_frame(quickstart_rows() + quickstart_rows(model="anthropic/claude"))
    cells = cells_frame(df)
    assert list(cells.columns) == list(CELL_COLUMNS)
    assert list(dict.fromkeys(cells["model"])) == ["openai/gpt-4o", "anthropic/claude"]
    for model, part in cells.groupby("model", sort=False):
        pd.testing.assert_frame_equal(part.reset_index(drop=True), cell_table(df, str(model)))
        heat = grid(df, str(model))
        pivot = part.pivot(index="requested_depth", columns="context_length", values="recall")
        pd.testing.assert_frame_equal(pivot, heat, check_names=False)


def test_recall_frame_has_a_row_per_model_and_length() -> None:
    frame = recall_frame(two_models(), "context_length")
    assert list(frame.columns[:2]) == ["model", "context_length"]
    assert list(zip(frame["model"], frame["context_length"], strict=True)) == [
        ("a/strong", 1000), ("a/strong", 2000), ("a/strong", 4000),
        ("b/weak", 1000), ("b/weak", 2000)]
    strong = recall_table(two_models(), "a/strong", "context_length").reset_index()
    pd.testing.assert_frame_equal(
        frame[frame["model"] == "a/strong"].drop(columns="model").reset_index(drop=True),
        strong)


def test_compare_models_says_where_the_difference_is_noise() -> None:
    table = compare_models(two_models())
    assert list(table.columns) == [*COMPARISON_COLUMNS[:2], "context_length",
                                   *COMPARISON_COLUMNS[2:]]
    rows = table.set_index("context_length")
    assert set(rows["model_a"]) == {"a/strong"} and set(rows["model_b"]) == {"b/weak"}
    # 1K: 10/10 vs 9/10 is within noise; 2K: 9/10 vs 3/10 is not (Newcombe 1998b,
    # Table II, example b: 0.6000, 0.1705..0.8090)
    assert bool(rows.loc[1000, "within_noise"]) is True
    assert bool(rows.loc[2000, "within_noise"]) is False
    assert rows.loc[2000, ["difference", "difference_low", "difference_high"]].tolist() == (
        pytest.approx([0.6, 0.1705, 0.8090], abs=5e-5))
    expected = difference_interval(10, 10, 9, 10)
    assert rows.loc[1000, "difference_low"] == pytest.approx(expected.low)
    assert rows.loc[1000, ["needles_a", "found_a", "needles_b", "found_b"]].tolist() == [
        10, 10.0, 10, 9.0]
    # 4K: only a/strong ran it, so nothing to compare
    assert rows.loc[4000, "needles_b"] == 0 and math.isnan(rows.loc[4000, "recall_b"])
    assert math.isnan(rows.loc[4000, "difference"]) and pd.isna(rows.loc[4000, "within_noise"])
    assert str(table["within_noise"].dtype) == "boolean"


def test_compare_models_covers_every_pair_in_order_and_any_axis() -> None:
    df = rows_frame([make_row(1000, d, 1.0, model=m) for m in ("x/1", "y/2", "z/3")
                     for d in (0, 50)])
    table = compare_models(df, by="requested_depth", confidence=0.9)
    pairs = list(dict.fromkeys(zip(table["model_a"], table["model_b"], strict=True)))
    assert pairs == [("x/1", "y/2"), ("x/1", "z/3"), ("y/2", "z/3")]
    assert table["requested_depth"].tolist() == [0.0, 50.0] * 3
    assert table["within_noise"].all()
    assert compare_models(df, models=["z/3", "x/1"])["model_a"].unique().tolist() == ["z/3"]
    one = compare_models(rows_frame([make_row(1000, 0, 1.0)]))
    assert one.empty and list(one.columns)[2] == "context_length"
