"""The needle task's grading: cut replies are answer errors unless ``score_cut_replies``
scores the list as far as it goes; rescoring a stored row goes through the same task."""

from __future__ import annotations

from niah.config import ScoringSpec
from niah.results import NeedleResult, ResultRow
from niah.tasks.needle import NeedleOptions, NeedleTask
from niah.tasks.stored import regrade, stored_prompt


def row(response: str, finish: str) -> ResultRow:
    return ResultRow(
        trial_id="t", experiment="e", model="scripted/a", context_length=1000,
        context_tokens=1000, prompt_tokens=1050, requested_depth=0, actual_depth=0,
        needles=[NeedleResult(text=f"The number for k{k} is {v}.", answer=v, key=f"k{k}",
                              token_offset=100 * k, actual_depth=10.0 * k)
                 for k, v in enumerate(["1111111", "2222222", "3333333", "4444444"])],
        response=response, finish_reason=finish, seed=1, prompt_sha256="0" * 64,
        niah_version="0", timestamp="2025-01-01T00:00:00+00:00", extra={"question": "All?"})


def test_cut_list_is_an_error_by_default_and_partial_recall_when_asked() -> None:
    cut = row("1111111\n3333333\n44", "length")
    task, spec = NeedleTask(), ScoringSpec()
    strict = regrade(cut, task, NeedleOptions(), spec)
    assert strict.score is None and strict.error is not None
    assert strict.error.kind == "truncated"
    assert [n.found for n in strict.needles] == [True, False, True, False]
    partial = regrade(cut, task, NeedleOptions(score_cut_replies=True), spec)
    assert partial.score == 0.5 and partial.error is None
    assert [n.found for n in partial.needles] == [True, False, True, False]
    empty = regrade(row("", "length"), task, NeedleOptions(score_cut_replies=True), spec)
    assert empty.score is None and empty.error is not None and empty.error.kind == "truncated"


def test_stored_prompt_keeps_what_grading_reads() -> None:
    bp = stored_prompt(row("x", "stop"))
    assert [n.answer for n in bp.needles][:2] == ["1111111", "2222222"]
    assert [n.key for n in bp.needles][-1] == "k3" and bp.needles[3].token_offset == 300
    assert bp.question == "All?" and bp.trial.trial_id == "t" and bp.messages == []
