"""``niah.report.agreement``: judge vs deterministic scoring on a known set of trials."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from niah.analysis import rows_frame
from niah.report.agreement import agreement_frame, cohen_kappa, disagreements, judge_section
from niah.report.build import build_report
from niah.results import ErrorInfo, JudgeResult, ResultRow
from tests.report.factory import make_row, write_run

# (gkamradt verdict, baseline score) of ten judged trials: 7+ passes, 5 or less fails
KNOWN = [
    (10, 1.0), (10, 1.0), (7, 1.0), (9, 1.0),  # both pass: 4
    (8, 0.0),                                  # the judge passes, the baseline fails: 1
    (5, 1.0), (1, 1.0),                        # the baseline passes, the judge fails: 2
    (1, 0.0), (3, 0.0), (5, 0.0),              # both fail: 3
]


def judged(verdict: float | None, baseline: float, k: int, *,
           error: bool = False) -> ResultRow:
    row = make_row(1000 * (1 + k % 2), 10.0 * k, baseline, trial_id=f"t{k}",
                   response=f"reply {k}")
    score = None if verdict is None else (verdict - 1) / 9
    judge = JudgeResult(model="openai/gpt-4o-mini", rubric="gkamradt", verdict=verdict,
                        score=score, reason=f"reason {k}", reply="{}",
                        deterministic_score=baseline, cost_usd=0.001,
                        error=ErrorInfo(kind="judge_output", message="bad") if error else None)
    extra = {**row.extra, **({"judge_score": verdict} if verdict is not None else {})}
    return row.model_copy(update={
        "judge": judge, "score": score, "extra": extra,
        "error": ErrorInfo(kind="judge", message="bad") if error else None})


def known_rows() -> list[ResultRow]:
    rows = [judged(v, b, k) for k, (v, b) in enumerate(KNOWN)]
    return [*rows, judged(None, 1.0, len(rows), error=True)]


def test_kappa_by_hand() -> None:
    # n = 10, observed = (4 + 3) / 10 = 0.7; the judge passes 5/10, the baseline 6/10;
    # chance = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohen_kappa(4, 1, 2, 3) == pytest.approx(0.4)
    assert cohen_kappa(5, 0, 0, 5) == pytest.approx(1.0)
    assert cohen_kappa(0, 5, 5, 0) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa(6, 0, 0, 0))  # one label from both: undefined


def test_agreement_table_on_a_known_set() -> None:
    df = rows_frame(known_rows())
    table = agreement_frame(df)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["judged"], row["both_pass"], row["judge_pass_only"],
            row["baseline_pass_only"], row["both_fail"]) == (10, 4, 1, 2, 3)
    assert row["agreement"] == pytest.approx(0.7)
    assert row["kappa"] == pytest.approx(0.4)
    assert row["judge_errors"] == 1
    assert row["judge_cost_usd"] == pytest.approx(0.011)  # 11 judge replies, the bad one too
    assert (row["judge_model"], row["rubric"]) == ("openai/gpt-4o-mini", "gkamradt")
    assert sorted(disagreements(df)["trial_id"]) == ["t4", "t5", "t6"]


def test_the_report_lists_disagreements_and_writes_the_table(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", known_rows())
    report = build_report([run])
    csv = pd.read_csv(report.out_dir / "judge_agreement.csv")
    assert csv.loc[0, "kappa"] == pytest.approx(0.4)
    page = (report.out_dir / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="judge">'):]
    section = section[:section.index("</section>")]
    assert "0.400" in section and "70.0%" in section and "openai/gpt-4o-mini" in section
    for k in (4, 5, 6):
        assert f"reason {k}" in section and f"reply {k}" in section
    assert "reason 0" not in section  # agreeing trials are not listed
    assert "judge scores" in section
    assert "mean judge score" in page  # gkamradt verdicts are shown as judge scores


def test_no_judge_no_section(tmp_path: Path) -> None:
    rows = [make_row(1000, 0, 1.0, trial_id="a")]
    assert judge_section(rows_frame(rows)) == ""
    report = build_report([write_run(tmp_path / "run", rows)])
    assert not (report.out_dir / "judge_agreement.csv").exists()
