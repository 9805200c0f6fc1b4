"""``niah.rescore``: stored answers scored again, answer errors included."""

from __future__ import annotations

from pathlib import Path

from niah.config import ScoringSpec
from niah.rescore import rescore_rows, rescore_run
from niah.results import RESULTS_FILE, ErrorInfo, read_rows, rows_text
from tests.report.factory import make_row

CUT = ErrorInfo(kind="truncated", message="cut")


def test_a_truncated_row_becomes_scored_when_a_scorer_finds_its_answer() -> None:
    # the needle's answer is "0"; the cut reply holds it only as a word inside "0.5"
    cut = make_row(1000, 50, None, response="The number is 0", trial_id="cut")
    cut = cut.model_copy(update={"error": CUT, "finish_reason": "length"})
    api = make_row(1000, 0, error=True, trial_id="api")
    rows, changed = rescore_rows([cut, api], ScoringSpec(kind="contains"))
    assert rows[0].error is None and rows[0].score == 1.0 and rows[0].needles[0].found
    assert rows[1] == api  # an API error has no answer to score
    assert changed == 1
    back, _ = rescore_rows(rows, ScoringSpec(kind="regex", pattern=r"is {answer}\.$"))
    assert back[0].error is not None and back[0].error.kind == "truncated"
    assert back[0].score is None


def test_rescore_run_rewrites_whole_and_keeps_a_backup(tmp_path: Path) -> None:
    rows = [make_row(1000, d, 1.0, response="It is 0.", trial_id=f"t{d}") for d in (0, 50)]
    (tmp_path / RESULTS_FILE).write_text(rows_text(rows))
    before = (tmp_path / RESULTS_FILE).read_bytes()
    total, changed = rescore_run(tmp_path, ScoringSpec(kind="exact"))
    assert (total, changed) == (2, 2)
    assert all(r.score == 0.0 for r in read_rows(tmp_path))
    assert (tmp_path / (RESULTS_FILE + ".bak")).read_bytes() == before
    assert not (tmp_path / ".lock").exists()
