"""Judge scores drawn as judge scores, imports of either age alike, scripted fakes named."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from niah.analysis import rows_frame
from niah.report.compare import plot_comparison
from niah.report.heatmap import CMAP, plot_heatmap
from niah.report.scale import (
    JUDGE,
    RECALL,
    display_name,
    display_name_of,
    normalize_judge,
    scale_of,
)
from niah.results import ResultRow
from tests.report.factory import make_row
from tests.report.pixels import GREEN, RED, close, heatmap_axes, pixel, render

GKAMRADT = "gkamradt/claude-2.1"


def judged(length: int, depth: float, judge: float, *, legacy: bool = False,
           repeat: int = 0) -> ResultRow:
    """An imported row: ``(judge - 1) / 9`` with ``extra.judge_score``, or as niah
    imported it before (``judge / 10``, the raw record in ``extra.gkamradt`` only)."""
    row = make_row(length, depth, 0.0, model=GKAMRADT, estimated=True, repeat=repeat)
    extra = {"source": "gkamradt/LLMTest_NeedleInAHaystack", "estimated": True,
             "gkamradt": {"model": "claude-2.1", "score": judge}}
    if legacy:
        return row.model_copy(update={"score": judge / 10, "extra": extra})
    return row.model_copy(update={"score": (judge - 1) / 9,
                                  "extra": {**extra, "judge_score": judge}})


def colorbar_axes(fig: Figure) -> Axes:
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return bar


@pytest.mark.parametrize("legacy", [False, True])
def test_judge_scores_are_drawn_on_a_1_to_10_colour_bar(legacy: bool) -> None:
    rows = [judged(1000, 0, 10, legacy=legacy), judged(1000, 50, 1, legacy=legacy),
            judged(2000, 0, 1, legacy=legacy), judged(2000, 0, 10, legacy=legacy, repeat=1),
            judged(2000, 50, 7, legacy=legacy)]
    fig = plot_heatmap(rows_frame(rows), annotate=False)
    image = render(fig)
    (ax,) = heatmap_axes(fig)
    bar = colorbar_axes(fig)
    assert [t.get_text() for t in bar.get_yticklabels()] == [str(k) for k in range(1, 11)]
    assert bar.get_ylabel() == "Judge score (1-10, as imported; 1 = miss)"
    # the bar's ends are the cells' ends: 1 is the red of a miss, 10 the green of a find
    assert close(pixel(image, bar, 0.5, 0.002), RED, 0.04)
    assert close(pixel(image, bar, 0.5, 0.998), GREEN, 0.04)
    # a score-1 miss is red (not the 10% of judge / 10), and judge 7 sits at 2/3
    assert close(pixel(image, ax, 0, 1), RED)
    assert close(pixel(image, ax, 1, 1), tuple(CMAP(6 / 9)[:3]))
    assert close(pixel(image, ax, 1, 0), tuple(CMAP(0.5)[:3]))  # judge 1 and 10: mean 5.5
    annotated = heatmap_axes(plot_heatmap(rows_frame(rows)))[0]
    assert sorted(t.get_text() for t in annotated.texts) == ["1", "10", "5.5", "7"]
    assert ax.get_title().splitlines()[-1] == "mean judge score 5.8/10 · 5 trials"


def test_legacy_imports_are_mapped_again_from_their_judge_score() -> None:
    old = rows_frame([judged(1000, 0, 1, legacy=True), judged(1000, 50, 10, legacy=True)])
    new = rows_frame([judged(1000, 0, 1), judged(1000, 50, 10)])
    assert old["score"].tolist() == [0.1, 1.0]
    assert normalize_judge(old)["score"].tolist() == [0.0, 1.0] == new["score"].tolist()
    assert normalize_judge(new) is new  # nothing to change: the same frame
    niah_rows = rows_frame([make_row(1000, 0, 0.5)])
    assert normalize_judge(niah_rows) is niah_rows


def test_scale_of_a_model() -> None:
    assert scale_of(rows_frame([judged(1000, 0, 3)])) is not RECALL
    assert scale_of(rows_frame([judged(1000, 0, 3)])) == JUDGE
    assert scale_of(rows_frame([make_row(1000, 0, 1.0)])) == RECALL
    assert JUDGE.table(2 / 9) == "3.0/10" and RECALL.table(0.625) == "62.5%"
    assert JUDGE.mean(float("nan")) == RECALL.mean(float("nan")) == "nothing scored"
    assert JUDGE.cell(0.5) == "5.5" and RECALL.cell(1 / 3) == "0.33"


def test_a_comparison_of_judged_and_counted_runs_has_both_scales_on_one_bar() -> None:
    rows = [judged(1000, 0, 1), make_row(1000, 0, 1.0)]
    fig = plot_comparison(rows_frame(rows))
    render(fig)
    bar = colorbar_axes(fig)
    assert bar.get_ylabel() == "Score (fraction of needles found)"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["0", "0.25", "0.5", "0.75", "1"]
    (judge_axis,) = bar.child_axes
    assert [t.get_text() for t in judge_axis.get_yticklabels()] == [
        str(k) for k in range(1, 11)]
    assert judge_axis.get_ylabel() == "Judge score (1-10, as imported; 1 = miss)"
    titles = [ax.get_title(loc="left") for ax in heatmap_axes(fig)]
    assert "mean judge score 1.0/10" in titles[0] and "recall 100.0%" in titles[1]


@pytest.mark.parametrize(
    ("label", "model", "shown"),
    [
        ("scripted/perfect", None, "scripted/perfect (scripted fake, not a model)"),
        ("scripted/x (run-a)", "scripted/x", "scripted/x (run-a) (scripted fake, not a model)"),
        ("openai/gpt-4o", None, "openai/gpt-4o"),
        ("scriptedish/x", None, "scriptedish/x"),
    ],
)
def test_scripted_fakes_are_named_as_such(label: str, model: str | None, shown: str) -> None:
    assert display_name(label, model) == shown


def test_display_name_of_reads_the_model_id_of_a_series() -> None:
    df = rows_frame([make_row(1000, 0, 1.0, model="scripted/lost")])
    df["series"] = pd.Series(["lost run"], dtype=object)
    assert display_name_of(df, "lost run") == "lost run (scripted fake, not a model)"
    fig = plot_heatmap(df)
    assert heatmap_axes(fig)[0].get_title().splitlines()[0] == (
        "lost run (scripted fake, not a model)")
