"""Results files -> DataFrame -> grids and summaries, from rows with known values."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from niah.analysis import (
    CELL_COLUMNS,
    COLUMNS,
    ResultsWarning,
    cell_table,
    effective_context_length,
    grid,
    is_multi_needle,
    load_results,
    recall_by,
    recall_table,
    rows_frame,
    summarize,
)
from niah.errors import ResultsError, UserError
from niah.results import ResultRow
from niah.stats import wilson_interval
from tests.report.factory import (
    answer_error_rows,
    make_row,
    manifest,
    quickstart_rows,
    write_run,
)


def test_load_results_flattens_every_row(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", quickstart_rows())
    df = load_results(run)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 11
    assert set(df["run_dir"]) == {str(run)}
    assert set(df["series"]) == {"openai/gpt-4o"}
    errors = df[df["error"].notna()]
    assert len(errors) == 3
    assert set(errors["error"]) == {"permanent: context too long"}
    assert errors["score"].isna().all()
    assert errors["error_status"].tolist() == [400, 400, 400]
    assert df["score"].dtype == float
    assert df.loc[0, "n_needles"] == 1 and df.loc[0, "needles_found"] == 1


def test_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = write_run(tmp_path / "run", quickstart_rows(), tail='{"trial_id": "x", "mod')
    df = load_results(run)
    assert len(df) == 11
    assert "line 12 is torn (an interrupted write): skipped" in caplog.text


def test_an_invalid_middle_line_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    """One policy with ``run``'s resume: damage before the last line is never skipped."""
    run = tmp_path / "run"
    run.mkdir()
    good = [r.model_dump_json() for r in quickstart_rows()]
    lines = [good[0], "not json", *good[1:]]
    (run / "results.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    with pytest.raises(ResultsError, match=r"results.jsonl: line 2 is not a valid result row "
                       r"\(not valid JSON\); fix or remove that line"):
        load_results(run)


def test_a_trial_stored_twice_keeps_its_last_row(tmp_path: Path) -> None:
    rows = [make_row(1000, 0, 0.0), make_row(2000, 0, 1.0), make_row(1000, 0, 1.0)]
    run = write_run(tmp_path / "run", rows)
    with pytest.warns(ResultsWarning, match="1 trial\\(s\\) stored twice"):
        df = load_results(run)
    assert len(df) == 2
    assert df.set_index("context_length").loc[1000, "score"] == 1.0


def test_same_model_in_two_runs_gets_two_series(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [make_row(1000, 0, 1.0)])
    b = write_run(tmp_path / "b", [make_row(1000, 0, 0.0), make_row(1000, 0, 1.0, model="x/y")])
    df = load_results(a, b)
    assert list(df["series"]) == ["openai/gpt-4o (a)", "openai/gpt-4o (b)", "x/y"]
    assert grid(df, "openai/gpt-4o (b)").iloc[0, 0] == 0.0


def test_several_models_in_one_file(tmp_path: Path) -> None:
    rows = quickstart_rows() + quickstart_rows(model="anthropic/claude")
    df = load_results(write_run(tmp_path / "run", rows))
    assert list(summarize(df)["model"]) == ["openai/gpt-4o", "anthropic/claude"]
    with pytest.raises(UserError, match="results hold 2 models"):
        grid(df)


def test_missing_run_dir_and_missing_results_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such run directory"):
        load_results(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no results\.jsonl"):
        load_results(tmp_path / "empty")


def test_grid_values_counts_and_axes() -> None:
    df = rows_frame(quickstart_rows())
    score = grid(df, "openai/gpt-4o")
    errors = grid(df, "openai/gpt-4o", "errors")
    trials = grid(df, "openai/gpt-4o", "trials")
    assert score.index.name == "requested_depth" and score.columns.name == "context_length"
    assert list(score.index) == [0.0, 50.0, 100.0]
    assert list(score.columns) == [1000, 2000, 4000]
    expected = pd.DataFrame(
        [[1.0, math.nan, 0.0], [0.0, 1.0, 1.0], [0.5, 1.0, math.nan]],
        index=score.index, columns=score.columns,
    )
    pd.testing.assert_frame_equal(score, expected)
    assert errors.to_numpy().tolist() == [[0, 2, 0], [0, 1, 0], [0, 0, 0]]
    assert trials.to_numpy().tolist() == [[1, 2, 1], [1, 2, 1], [2, 1, 0]]


def test_grid_with_fixed_axes_leaves_unrun_cells_empty() -> None:
    df = rows_frame([make_row(1000, 0, 1.0)])
    score = grid(df, lengths=[1000, 8000], depths=[0.0, 100.0])
    assert score.shape == (2, 2)
    assert score.iloc[0, 0] == 1.0 and score.isna().sum().sum() == 3
    assert grid(df, "openai/gpt-4o", "trials", lengths=[1000, 8000]).iloc[0].tolist() == [1, 0]


def test_summarize_counts_recall_tokens_and_cost() -> None:
    df = rows_frame(quickstart_rows())
    rec = summarize(df).iloc[0]
    assert rec["trials"] == 11 and rec["errors"] == 3 and rec["scored"] == 8
    assert rec["error_rate"] == pytest.approx(3 / 11)
    assert rec["recall"] == pytest.approx(5 / 8)  # 1,0,1,0,1,1,0,1 over answered trials
    assert rec["prompt_tokens"] == sum(r.prompt_tokens for r in quickstart_rows())
    assert rec["completion_tokens"] == 80
    assert rec["cost_usd"] == pytest.approx(0.008)
    assert rec["recall_by_length"] == {1000: 0.5, 2000: 1.0, 4000: 0.5}
    assert rec["recall_by_depth"] == {0.0: 0.5, 50.0: 2 / 3, 100.0: 2 / 3}
    assert rec["max_context_length"] == 4000
    # 1K recall 0.5; 2K 1.0 >= 0.425; 4K 0.5 >= 0.425 -> the whole range holds
    assert rec["effective_context_length"] == 4000


def test_summarize_cost_is_nan_when_nothing_was_priced() -> None:
    df = rows_frame([make_row(1000, 0, 1.0, cost=None)])
    assert math.isnan(summarize(df).iloc[0]["cost_usd"])


@pytest.mark.parametrize(
    ("recall", "threshold", "expected"),
    [
        ({1000: 1.0, 2000: 0.9, 4000: 0.86, 8000: 0.8, 16000: 1.0}, 0.85, 4000),
        ({1000: 0.5, 2000: 0.43, 4000: 0.42}, 0.85, 2000),  # relative to the shortest
        ({1000: 1.0, 2000: 1.0}, 1.0, 2000),
        ({4000: 1.0, 1000: 1.0, 2000: 0.1}, 0.85, 1000),  # order does not matter
        ({1000: 1.0, 2000: math.nan, 4000: 1.0}, 0.85, 1000),  # unknown stops the scan
        ({1000: 0.0, 2000: 0.0}, 0.85, None),
        ({1000: math.nan}, 0.85, None),
        ({}, 0.85, None),
    ],
)
def test_effective_context_length(
    recall: dict[int, float], threshold: float, expected: int | None
) -> None:
    assert effective_context_length(recall, threshold) == expected


def test_effective_context_length_rejects_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        effective_context_length({1000: 1.0}, 0)


def test_multi_needle_detection() -> None:
    assert not is_multi_needle(rows_frame(quickstart_rows()))
    assert is_multi_needle(rows_frame([make_row(1000, 0, 0.5, needles=4)]))


def test_answer_errors_are_counted_apart_from_api_errors() -> None:
    df = rows_frame(answer_error_rows())
    errors = grid(df, None, "errors")
    unanswered = grid(df, None, "unanswered")
    score = grid(df, None, "score")
    assert errors.to_numpy().tolist() == [[0, 1, 0], [0, 2, 1]]
    assert unanswered.to_numpy().tolist() == [[2, 1, 0], [1, 0, 0]]
    assert score.to_numpy().tolist()[1][0] == 1.0  # the truncated trial is not a miss
    assert score.isna().to_numpy().tolist() == [[True, True, False], [False, True, False]]
    rec = summarize(df).iloc[0]
    assert (rec["trials"], rec["scored"], rec["errors"], rec["unanswered"]) == (11, 3, 4, 4)
    assert rec["error_rate"] == pytest.approx(4 / 11)
    assert rec["unanswered_rate"] == pytest.approx(4 / 11)
    assert rec["recall"] == pytest.approx(2 / 3)  # over the 3 scored trials only
    by_length = rec["recall_by_length"]
    assert by_length[1000] == 1.0 and by_length[4000] == 0.5
    assert math.isnan(by_length[2000])  # nothing scored at 2K: unknown, not 0


def test_grid_rejects_an_unknown_value() -> None:
    with pytest.raises(ValueError, match="score, errors, unanswered or trials"):
        grid(rows_frame(quickstart_rows()), None, "misses")  # type: ignore[arg-type]


def test_summary_says_what_lengths_were_counted_in(tmp_path: Path) -> None:
    claude = "anthropic/claude-3-5-sonnet"
    rows = quickstart_rows() + quickstart_rows(model=claude)
    run = write_run(tmp_path / "run", rows, manifest(
        {"openai/gpt-4o": "tiktoken:o200k_base", claude: "tiktoken:cl100k_base"}))
    df = load_results(run)
    assert set(zip(df["model"], df["tokenizer"], strict=True)) == {
        ("openai/gpt-4o", "tiktoken:o200k_base"), (claude, "tiktoken:cl100k_base")}
    summary = summarize(df).set_index("model")
    assert summary.loc["openai/gpt-4o", "lengths"] == "exact"
    assert summary.loc[claude, "lengths"] == "approximate"
    assert summary.loc[claude, "tokenizer"] == "tiktoken:cl100k_base"
    imported = rows_frame([make_row(1000, 0, 1.0, model="gkamradt/gpt-4", estimated=True)])
    assert summarize(imported).iloc[0]["lengths"] == "estimated"
    assert summarize(rows_frame(quickstart_rows())).iloc[0]["lengths"] == "unknown"


def test_summary_reports_the_token_count_mismatch() -> None:
    claude = "anthropic/claude-3-5-sonnet"
    # the server counts 20% more than niah's cl100k count on the long prompts; the short
    # one is within template overhead (64 tokens)
    rows = [make_row(n, 0, 1.0, model=claude, reported=round((n + 50) * 1.2))
            for n in (1000, 2000, 4000)]
    rows += [make_row(100, 0, 1.0, model=claude, reported=160),
             make_row(8000, 0, model=claude, error=True)]  # API error: no reported count
    rows += [make_row(1000, 0, 1.0, reported=1060)]  # gpt-4o agrees with niah
    df = rows_frame(rows, tokenizers={claude: "tiktoken:cl100k_base",
                                      "openai/gpt-4o": "tiktoken:o200k_base"})
    summary = summarize(df).set_index("model")
    claude_rec = summary.loc[claude]
    assert claude_rec["token_counts_compared"] == 4
    assert claude_rec["token_mismatch_rows"] == 3
    assert claude_rec["token_mismatch_ratio"] == pytest.approx(1.2, abs=1e-3)
    assert claude_rec["token_mismatch"].startswith(
        f"{claude}: the server counted prompts differently from niah in 3 of 4 rows "
        "(median ratio 1.200) (niah counted in tiktoken:cl100k_base)")
    gpt = summary.loc["openai/gpt-4o"]
    assert gpt["token_counts_compared"] == 1 and gpt["token_mismatch_rows"] == 0
    assert math.isnan(gpt["token_mismatch_ratio"]) and gpt["token_mismatch"] is None


def test_cell_table_counts_every_cell_of_the_grid() -> None:
    cells = cell_table(rows_frame(quickstart_rows()))
    assert list(cells.columns) == list(CELL_COLUMNS)
    assert set(cells["model"]) == {"openai/gpt-4o"}
    # rows by length, then depth, over the model's own axes; (4K, 100%) was not run
    assert list(zip(cells["context_length"], cells["requested_depth"], strict=True)) == [
        (n, d) for n in (1000, 2000, 4000) for d in (0.0, 50.0, 100.0)]
    at = cells.set_index(["context_length", "requested_depth"])
    assert at.loc[(1000, 100.0), ["trials", "scored", "needles", "found"]].tolist() == [
        2, 2, 2, 1.0]
    assert at.loc[(1000, 100.0), "recall"] == 0.5
    assert (at.loc[(1000, 100.0), "recall_low"], at.loc[(1000, 100.0), "recall_high"]) == (
        pytest.approx(wilson_interval(1, 2)))
    every_error = at.loc[(2000, 0.0)]
    assert every_error[["trials", "scored", "errors", "needles"]].tolist() == [2, 0, 2, 0]
    assert math.isnan(every_error["recall"]) and math.isnan(every_error["recall_low"])
    assert at.loc[(4000, 100.0), "trials"] == 0 and math.isnan(at.loc[(4000, 100.0), "recall"])
    # found everything in one trial: 20.7%-100%; found nothing: 0%-79.3%
    assert at.loc[(1000, 0.0), ["recall_low", "recall_high"]].tolist() == pytest.approx(
        [0.2065, 1.0], abs=1e-4)
    assert at.loc[(1000, 50.0), ["recall_low", "recall_high"]].tolist() == pytest.approx(
        [0.0, 0.7935], abs=1e-4)


@pytest.mark.parametrize("rows", [quickstart_rows(), answer_error_rows()])
def test_grid_is_a_pivot_of_cell_table(rows: list[ResultRow]) -> None:
    """One function behind the heatmap and cells.csv: they cannot disagree."""
    df = rows_frame(rows)
    cells = cell_table(df)
    for value, column in [("score", "recall"), ("errors", "errors"),
                          ("unanswered", "unanswered"), ("trials", "trials")]:
        table = grid(df, None, value)  # type: ignore[arg-type]
        for rec in cells.to_dict("records"):
            got = table.loc[rec["requested_depth"], rec["context_length"]]
            assert got == rec[column] or (math.isnan(got) and math.isnan(rec[column]))
        assert int(table.size) == len(cells)


def test_each_needle_is_one_bernoulli_trial() -> None:
    """Two trials of 4 needles, 2 and 4 found: 6 of 8 needles, not 2 trials."""
    df = rows_frame([make_row(1000, 0, 0.5, needles=4),
                     make_row(1000, 0, 1.0, needles=4, repeat=1)])
    rec = cell_table(df).iloc[0]
    assert (rec["trials"], rec["scored"], rec["needles"], rec["found"]) == (2, 2, 8, 6.0)
    assert rec["recall"] == 0.75
    assert (rec["recall_low"], rec["recall_high"]) == pytest.approx((0.4093, 0.9285), abs=1e-4)
    summary = summarize(df).iloc[0]
    assert (summary["recall"], summary["recall_low"]) == (0.75, rec["recall_low"])


def test_a_judge_score_counts_as_that_fraction_of_a_needle() -> None:
    """Imported gkamradt rows: a 1-10 judge score of 7 is 0.7, needle flags unknown."""
    rows = [make_row(1000, 0, 0.7, model="gkamradt/gpt-4", estimated=True),
            make_row(1000, 50, 0.4, model="gkamradt/gpt-4", estimated=True)]
    rows[1] = rows[1].model_copy(update={"needles": []})  # no needle recorded: one trial
    table = recall_table(rows_frame(rows), None, "context_length")
    assert table.loc[1000, ["needles", "found"]].tolist() == [2, pytest.approx(1.1)]
    assert table.loc[1000, "recall"] == pytest.approx(0.55)


def test_recall_by_length_and_depth_are_sums_of_cells() -> None:
    claude = "anthropic/claude-3-5-sonnet"
    df = rows_frame([*answer_error_rows(claude), make_row(4000, 0, 1.0, model=claude, repeat=3)])
    cells = cell_table(df)
    for by in ("context_length", "requested_depth"):
        table = recall_table(df, None, by)
        summed = cells.groupby(by)[["trials", "scored", "errors", "unanswered", "needles",
                                    "found"]].sum()
        pd.testing.assert_frame_equal(table[summed.columns], summed, check_dtype=False)
        low, high = zip(*(wilson_interval(f, n) for f, n in zip(
            table["found"], table["needles"], strict=True)), strict=True)
        assert table["recall_low"].tolist() == pytest.approx(list(low), nan_ok=True)
        assert table["recall_high"].tolist() == pytest.approx(list(high), nan_ok=True)
        assert recall_by(df, None, by).tolist() == pytest.approx(
            table["recall"].tolist(), nan_ok=True)
    # 4K: a score of 0 and two of 1 (one trial added); 2K: nothing scored
    by_length = recall_table(df, None, "context_length")
    assert by_length.loc[4000, ["needles", "found"]].tolist() == [3, 2.0]
    assert by_length.loc[2000, "needles"] == 0 and math.isnan(by_length.loc[2000, "recall_low"])


def test_summary_gives_both_effective_lengths_and_the_recall_interval() -> None:
    rows = [make_row(n, d, s, repeat=r) for n, s in [(1000, 1.0), (2000, 1.0)]
            for d in (0, 50) for r in range(5)]
    # 4K: 7 of 10 found; 8K: 9 of 10
    rows += [make_row(4000, d, float(r < (4 if d else 3)), repeat=r) for d in (0, 50)
             for r in range(5)]
    rows += [make_row(8000, d, float(r < 5 - (d > 0)), repeat=r) for d in (0, 50)
             for r in range(5)]
    summary = summarize(rows_frame(rows), threshold=0.75, absolute_threshold=0.8,
                        confidence=0.9).iloc[0]
    assert summary["recall_by_length"] == {1000: 1.0, 2000: 1.0, 4000: 0.7, 8000: 0.9}
    assert summary["recall"] == pytest.approx(36 / 40)
    assert (summary["recall_low"], summary["recall_high"]) == pytest.approx(
        wilson_interval(36, 40, 0.9))
    assert summary["confidence"] == 0.9
    # relative: bar 0.75 x 1.0; absolute: bar 0.8; 4K (0.7) breaks both
    assert (summary["effective_context_length"], summary["relative_breaks_at"]) == (2000, 4000)
    assert summary["relative_bar"] == 0.75 and summary["threshold"] == 0.75
    assert summary["absolute_effective_context_length"] == 2000
    assert summary["absolute_breaks_at"] == 4000 and summary["absolute_threshold"] == 0.8
    loose = summarize(rows_frame(rows), threshold=0.7, absolute_threshold=0.5).iloc[0]
    assert loose["effective_context_length"] == 8000 and pd.isna(loose["relative_breaks_at"])
    assert loose["absolute_effective_context_length"] == 8000
    assert pd.isna(loose["absolute_breaks_at"])
    assert loose["confidence"] == 0.95 and loose["absolute_threshold"] == 0.5
