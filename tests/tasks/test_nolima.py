"""configs/nolima.yaml: one-hop needles whose question shares no content word with
them, one pair per trial (``one_per_trial``), scored like any other needle."""

from __future__ import annotations

import re
from pathlib import Path

from niah.config import Experiment, load_experiment
from niah.plan import plan
from niah.tasks.registry import check_task, task_builder

NOLIMA = Path(__file__).resolve().parents[2] / "configs" / "nolima.yaml"
STOP = {"a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "with", "as", "by",
        "his", "her", "has", "have", "had", "is", "was", "be", "been", "which", "who",
        "what", "character", "same", "once", "last", "about", "anything", "made", "way",
        "actually", "cannot", "can", "years", "this", "that"}


def content_words(text: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    stems = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words}  # visits ~ visit
    return stems - STOP


def experiment() -> Experiment:
    return load_experiment(NOLIMA, tokenizer="tiktoken:cl100k_base",
                           **{"grid.context_lengths": [1000, 2000]})


def test_questions_share_no_content_word_with_their_needle() -> None:
    exp = load_experiment(NOLIMA)
    assert len(exp.needles) >= 8 and exp.task.options == {"one_per_trial": True}
    for spec in exp.needles:
        assert spec.answer and spec.answer in spec.text and spec.answer not in spec.question
        assert not content_words(spec.text) & content_words(spec.question), spec


def test_each_trial_holds_one_pair_asked_by_its_own_question() -> None:
    exp = experiment()
    check_task(exp)
    builder = task_builder(exp, exp.model[0])
    trials = plan(exp)
    seen = set()
    for trial in trials[:: len(trials) // 16 or 1]:
        bp = builder.build(trial)
        spec = exp.needles[trial.repeat % len(exp.needles)]
        assert bp.trial == trial and bp.context_tokens == trial.context_length
        assert [n.answer for n in bp.needles] == [spec.answer]
        assert bp.question == spec.question and spec.text in bp.context
        assert abs(bp.actual_depth - trial.requested_depth) < 10
        seen.add(spec.answer)
    assert len(seen) >= 6


def test_scored_like_any_needle() -> None:
    exp = experiment()
    task, options = check_task(exp)
    builder = task_builder(exp, exp.model[0])
    bp = builder.build(plan(exp)[1])
    answer = bp.needles[0].answer
    right = task.grade(bp, f"{answer} has.", "stop", exp.scoring, options)
    wrong = task.grade(bp, "Nobody in the text.", "stop", exp.scoring, options)
    assert (right.score, right.hits) == (1.0, [True])
    assert (wrong.score, wrong.hits) == (0.0, [False])
