"""The statistics section of report.html: definitions, intervals, verdicts, escaping."""

from __future__ import annotations

import pandas as pd

from niah.analysis import rows_frame, summarize
from niah.report.stats_section import stats_section
from niah.tidy import compare_models, recall_frame
from tests.report.factory import HOSTILE, make_row


def page(df: pd.DataFrame, **summary: float) -> str:
    comparison = compare_models(df) if df["model"].nunique() > 1 else None
    return stats_section(summarize(df, **summary), recall_frame(df, "context_length"),
                         recall_frame(df, "requested_depth"), comparison)


def two_models() -> pd.DataFrame:
    rows = [make_row(n, 0, float(r < k), model="a/strong", repeat=r)
            for n, k in [(1000, 10), (2000, 9)] for r in range(10)]
    rows += [make_row(n, 0, float(r < k), model="b/weak", repeat=r)
             for n, k in [(1000, 9), (2000, 3)] for r in range(10)]
    return rows_frame(rows)


def test_both_effective_lengths_are_shown_with_their_definitions() -> None:
    html = page(two_models(), threshold=0.8, absolute_threshold=0.9)
    assert "Relative (≥ 80% of short-context recall)" in html
    assert "Absolute (≥ 90.0%)" in html
    assert "RULER" in html and "Llama-2-7B" in html and "Breaks at" in html
    # a/strong: 1.0, 0.9 holds both bars to 2K; b/weak: 0.9 then 0.3 breaks at 2K
    strong = html.split("<td>a/strong</td>")[1].split("</tr>")[0]
    assert strong.count(">2K<") == 3 and strong.count(">none<") == 2  # + longest tested
    weak = html.split("<td>b/weak</td>")[1].split("</tr>")[0]
    assert '<td class="num">1K</td><td class="num">2K</td><td class="num">72.0%</td>' in weak


def test_recall_is_shown_with_its_interval_and_counts() -> None:
    html = page(two_models())
    assert "Recall with 95% intervals" in html and "Bernoulli" in html
    # 9 of 10: 59.6%-98.2% (Newcombe 1998a's method 3 for 9/10)
    assert 'title="9 of 10 needles">90.0% <span class="note">(59.6%–98.2%)</span>' in html
    assert "Recall by depth, with 95% intervals" in html


def test_comparison_verdicts() -> None:
    html = page(two_models())
    section = html.split("Differences between models (95%)")[1]
    one_k, two_k = section.split("<tr>")[2:4]
    assert "within noise" in one_k and "+10.0%" in one_k
    assert "<b>a/strong</b> higher" in two_k and "+17.1% to +80.9%" in two_k
    assert "Newcombe" in section and "Overlapping error bars are not the test" in section


def test_model_ids_are_escaped_everywhere() -> None:
    rows = [make_row(1000, 0, 1.0, model=f"x/{HOSTILE[0]}"),
            make_row(1000, 0, 0.0, model=f"y/{HOSTILE[2]}")]
    html = page(rows_frame(rows))
    assert "<script" not in html and "</table><h1" not in html
    assert "&lt;script&gt;" in html and "&lt;/td&gt;&lt;/table&gt;" in html


def test_cells_with_nothing_scored_show_a_dash_and_unrun_ones_stay_blank() -> None:
    rows = [make_row(1000, 0, 1.0, model="a/one"), make_row(2000, 0, model="a/one", error=True),
            make_row(1000, 0, 1.0, model="b/two")]
    html = page(rows_frame(rows))
    lengths = html.split("Recall by context length")[1].split("</table>")[0]
    two_k = lengths.split("<th>2K</th>")[1].split("</tr>")[0]
    assert two_k == '<td class="num">–</td><td class="num"></td>'
    assert "not comparable" in html
