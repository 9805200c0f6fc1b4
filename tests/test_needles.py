"""Needle values: seeded per trial, distinct, well formed, and never already in the haystack."""

from __future__ import annotations

import re
from typing import Any

import pytest

from niah.config import Experiment, load_experiment
from niah.errors import HaystackError
from niah.haystack import prose
from niah.needles import WORDS, draw_needles, occurs_in, question_for
from niah.tokenizers import load_tokenizer

HAYSTACK = b"the ferryman carried a lantern near the harbour. the weaver waited."
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def experiment(*needles: dict[str, Any], **top: Any) -> Experiment:
    return load_experiment({"name": "n", "model": "scripted/perfect", "needles": list(needles),
                            **top})


def number(digits: int = 7, count: int = 1) -> dict[str, Any]:
    return {"text": "The special magic number is {value}.", "question": "What is the number?",
            "value": {"kind": "random_number", "digits": digits}, "count": count}


def answers(exp: Experiment, seed: int, haystack: bytes = HAYSTACK) -> list[str]:
    return [n.answer for n in draw_needles(exp, seed, haystack)]


def test_same_seed_same_values_other_seeds_differ() -> None:
    exp = experiment(number(count=3), {"text": "A {value}.", "value": {"kind": "uuid"}},
                     {"text": "W {value}.", "value": {"kind": "random_word"}})
    assert answers(exp, 42) == answers(exp, 42)
    draws = [tuple(answers(exp, seed)) for seed in range(30)]
    assert len(set(draws)) == 30
    assert len({d[0] for d in draws}) == 30  # the first number alone differs per seed


def test_needles_come_in_config_order_with_rendered_text() -> None:
    exp = experiment(number(), {"text": "The {key} code is {value}.", "key": "alpha",
                                "question": "What is the {key} code?",
                                "value": {"kind": "random_word"}})
    first, second = draw_needles(exp, 1, HAYSTACK)
    assert first.text == f"The special magic number is {first.answer}."
    assert second.text == f"The alpha code is {second.answer}."
    assert second.question == "What is the alpha code?" and second.key == "alpha"
    assert first.key is None


@pytest.mark.parametrize("digits", [1, 2, 7, 12, 30])
def test_random_numbers_have_the_digits_and_no_leading_zero(digits: int) -> None:
    exp = experiment(number(digits=digits, count=5))
    for seed in range(40):
        for value in answers(exp, seed):
            assert value.isdigit() and len(value) == digits and value[0] != "0"


def test_uuids_are_version_4() -> None:
    exp = experiment({"text": "The id is {value}.", "value": {"kind": "uuid"}, "count": 5})
    values = [v for seed in range(20) for v in answers(exp, seed)]
    assert all(UUID4.match(v) for v in values)
    assert len(set(values)) == len(values)


def test_random_words_come_from_the_list() -> None:
    exp = experiment({"text": "The word is {value}.", "value": {"kind": "random_word"},
                      "count": 5})
    values = [v for seed in range(20) for v in answers(exp, seed)]
    assert set(values) <= set(WORDS)
    assert len(set(values)) > 20


def test_values_are_distinct_within_a_trial() -> None:
    # 90 two-digit numbers exist: 90 needles must use each exactly once
    exp = experiment(number(digits=2, count=90))
    values = answers(exp, 3)
    assert sorted(values) == [str(n) for n in range(10, 100)]
    words = experiment({"text": "W {value}.", "value": {"kind": "random_word"}, "count": 100})
    assert len(set(answers(words, 3))) == 100
    # distinct across needle specs too
    two = experiment(number(digits=1, count=5), number(digits=1, count=4))
    assert sorted(answers(two, 0)) == [str(n) for n in range(1, 10)]


def test_too_few_possible_values_is_a_clear_error() -> None:
    exp = experiment(number(), number(digits=1, count=10))
    with pytest.raises(HaystackError, match=r"^needles\[1\]\.value: cannot draw 10 distinct"):
        draw_needles(exp, 0, HAYSTACK)


def test_a_value_found_in_the_haystack_is_redrawn() -> None:
    exp = experiment(number(count=2))
    for seed in range(10):
        clean = answers(exp, seed, b"")
        haystack = f"it cost {clean[0]} coins, or {clean[1]}.".encode()
        redrawn = answers(exp, seed, haystack)
        assert redrawn[0] != clean[0] and redrawn[1] != clean[1]
        assert not any(occurs_in(v, haystack) for v in redrawn)


def test_only_the_word_missing_from_the_haystack_can_be_drawn() -> None:
    spared = "wombat"
    haystack = " ".join(w for w in WORDS if w != spared).encode()
    exp = experiment({"text": "The word is {value}.", "value": {"kind": "random_word"}})
    assert {answers(exp, seed, haystack)[0] for seed in range(10)} == {spared}


def test_a_fixed_answer_in_the_haystack_is_an_error_naming_the_needle() -> None:
    exp = experiment({"text": "Meet me at the harbour.", "answer": "Harbour", "question": "Where?"})
    with pytest.raises(HaystackError) as info:
        draw_needles(exp, 0, HAYSTACK)
    assert str(info.value).startswith("needles[0].answer: 'Harbour' occurs in the haystack")
    assert "\n" not in str(info.value)
    fixed = experiment(number(), {"text": "Bring {value}.", "value": {"kind": "fixed",
                                                                      "value": "a lantern"}})
    with pytest.raises(HaystackError, match=r"^needles\[1\]\.value\.value: 'a lantern' occurs"):
        draw_needles(fixed, 0, HAYSTACK)


def test_a_fixed_answer_absent_from_the_haystack_is_kept() -> None:
    # "harbours" holds "harbour" only as part of a longer word
    exp = experiment({"text": "Meet at the harbour.", "answer": "harbour", "question": "Where?"})
    needles = draw_needles(exp, 0, b"the harbours were quiet.")
    assert [n.answer for n in needles] == ["harbour"]
    fixed = experiment({"text": "Bring {value}.", "value": {"kind": "fixed", "value": "X-9"}})
    assert answers(fixed, 5) == ["X-9"] == answers(fixed, 6)


@pytest.mark.parametrize(("answer", "haystack", "found"), [
    ("7392841", b"the number 173928410 is long", False),
    ("7392841", b"the number 17392841 is long", False),
    ("7392841", b"the number 73928411 is long", False),
    ("7392841", b"the number is 7392841.", True),
    ("7392841", b"7392841 starts it", True),
    ("7392841", b"it ends with 7392841", True),
    ("7392841", b"once 73928412 then (7392841)", True),
    ("Harbour", b"the harbour.", True),
    ("harbour", b"the harbours.", False),
    ("a lantern", b"carried a lantern near", True),
    ("", b"anything", False),
    ("\u00c4rger", "viel \u00c4rger hier".encode().lower(), True),
])
def test_occurs_in_matches_whole_words(answer: str, haystack: bytes, found: bool) -> None:
    assert occurs_in(answer, haystack) is found


def test_question_for_uses_the_override_or_the_distinct_questions() -> None:
    exp = experiment(number(count=2), {"text": "W {value}.", "question": "What is the word?",
                                       "value": {"kind": "random_word"}})
    needles = draw_needles(exp, 0, HAYSTACK)
    assert question_for(exp, needles) == "What is the number? What is the word?"
    override = experiment(number(), prompt={"question": "List every number."})
    assert question_for(override, draw_needles(override, 0, HAYSTACK)) == "List every number."
    silent = experiment({"text": "A {value}."})
    assert question_for(silent, draw_needles(silent, 0, HAYSTACK)).endswith("?")


def test_words_are_unique_lowercase_letters() -> None:
    assert len(set(WORDS)) == len(WORDS) >= 150
    assert all(re.fullmatch(r"[a-z]+", w) for w in WORDS)


def test_no_word_occurs_in_the_generated_prose() -> None:
    """About 200k cl100k tokens of prose, several seeds, hold none of the WORDS."""
    tokenizer = load_tokenizer("tiktoken:cl100k_base")
    chunks: list[str] = []
    tokens = 0
    for seed in (0, 1, 2, 3):
        for i, paragraph in enumerate(prose.paragraphs(seed)):
            chunks.append(paragraph)
            if i % 200 == 199:
                tokens += tokenizer.count("\n\n".join(chunks[-200:]))
                if tokens >= 50_000 * (seed + 1):
                    break
    assert tokens >= 200_000
    haystack = "\n\n".join(chunks).encode().lower()
    present = [w for w in WORDS if occurs_in(w, haystack)]
    assert present == []
    found = set(re.findall(rb"[a-z]+", haystack))
    assert not {w.encode() for w in WORDS} & found
