"""RULER's needle tasks: keys and values per trial, absent from the haystack; the
distractor-needle haystack; options overriding a task's defaults."""

from __future__ import annotations

import re

import pytest

from niah.tasks.ruler.niah_family import question_text
from niah.tasks.ruler.text import distractor_source
from tests.tasks.ruler.helpers import NEEDLE_TASKS, built, experiment


@pytest.mark.parametrize("task", NEEDLE_TASKS)
def test_every_value_and_asked_key_occurs_once(task: str) -> None:
    for bp in built(experiment(task, lengths=[2000], depths=[0, 50], repeats=2)):
        for n in bp.needles:
            assert bp.context.count(n.answer) == 1
            assert bp.context.count(n.text) == 1
        for key in {n.key for n in bp.needles if not n.distractor}:
            values = sum(n.key == key for n in bp.needles)
            assert key is not None and bp.context.count(key + " is:") == values


def test_multikey_1_hides_three_other_keys_as_distractors() -> None:
    bp = built(experiment("niah_multikey_1"))[0]
    assert [n.distractor for n in bp.needles] == [False, True, True, True]
    assert len({n.key for n in bp.needles}) == 4


def test_multivalue_and_multiquery_ask_for_four() -> None:
    mv = built(experiment("niah_multivalue"))[0]
    assert len({n.key for n in mv.needles}) == 1 and len(mv.needles) == 4
    mq = built(experiment("niah_multiquery"))[0]
    assert len({n.key for n in mq.needles}) == 4 and not any(n.distractor for n in mq.needles)
    assert mq.question.count(", and ") == 2  # in the question and in the answer prefix


def test_key_kinds_follow_the_task() -> None:
    word_pair = re.compile(r"^[a-z]+-[a-z]+$")
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert word_pair.match(built(experiment("niah_multikey_2"))[0].needles[0].key or "")
    mk3 = built(experiment("niah_multikey_3"))[0].needles[0]
    assert uuid.match(mk3.key or "") and uuid.match(mk3.answer)
    assert re.fullmatch(r"[1-9]\d{6}", built(experiment("niah_single_1"))[0].needles[0].answer)


def test_options_override_the_tasks_defaults() -> None:
    exp = experiment("niah_single_1", options={"num_keys": 3, "num_values": 2,
                                               "key_kind": "numbers", "value_kind": "words",
                                               "haystack": "needle", "answer_prefix": False})
    bp = built(exp)[0]
    assert len(bp.needles) == 6 and sum(not n.distractor for n in bp.needles) == 2
    assert all(re.fullmatch(r"\d{7}", n.key or "") for n in bp.needles)
    assert bp.messages[-1]["content"].endswith("mentioned in the provided text?")
    assert "One of the special magic words for" in bp.context


def test_question_text_is_singular_for_one_value() -> None:
    assert question_text("numbers", ["a-b"], 1, True) == (
        "What is the special magic number for a-b mentioned in the provided text? "
        "The special magic number for a-b mentioned in the provided text is")
    assert question_text("uuids", ["x", "y"], 1, False) == (
        "What are all the special magic uuids for x, and y mentioned in the provided text?")


def test_the_distractor_haystack_is_seeded_and_long_enough() -> None:
    a = distractor_source("words", "numbers", 0, 5000)
    b = distractor_source("words", "numbers", 0, 5000)
    c = distractor_source("words", "numbers", 1, 5000)
    assert list(a.paragraphs()) == list(b.paragraphs()) != list(c.paragraphs())
    lines = "\n".join(a.paragraphs()).split("\n")
    assert len(lines) >= 500 and all(line.startswith("One of the special magic numbers for ")
                                      for line in lines)


def test_more_needles_than_rulers_forty_depths() -> None:
    exp = experiment("niah_multikey_1", lengths=[6000], options={"num_keys": 30, "num_values": 3})
    bp = built(exp)[0]
    assert len(bp.needles) == 90 and len({n.answer for n in bp.needles}) == 90
    assert all(bp.context.count(n.text) == 1 for n in bp.needles)
