from __future__ import annotations

from dataclasses import dataclass

import pytest

from niah.config import ScoringSpec
from niah.errors import ConfigError
from niah.results import NeedleResult
from niah.scoring import check_spec, contains, exact, grade, normalize, regex, score

CONTAINS = ScoringSpec()


@dataclass
class N:
    answer: str


@pytest.mark.parametrize(
    "response",
    [
        "The special magic number is 7392841.",
        "7392841",
        "the number: 7,392,841!",
        "It is 7 392 841.",
        "It is 7.392.841",
        "It is 7\u202f392\u202f841",  # narrow no-break space, as French typesetting does
        "**7392841**",
        "(7392841)",
        "Ｔhe number is ７３９２８４１",  # full-width digits, NFKC
    ],
)
def test_contains_finds_a_number_however_it_is_written(response: str) -> None:
    assert contains("7392841", response)


@pytest.mark.parametrize(
    "response",
    [
        "173928410",
        "The number is 73928412.",
        "7392841.5",
        "It is 7,392,8410",
        "I could not find it.",
        "739 2841",
        "",
    ],
)
def test_contains_never_matches_part_of_a_longer_number(response: str) -> None:
    assert not contains("7392841", response)


def test_number_groups_are_read_both_ways() -> None:
    # "3 123" may be two numbers: 123 is there, and so is 3123
    assert contains("123", "I counted 3 123 apples")
    assert contains("3123", "I counted 3 123 apples")
    # an answer written with separators matches the plain number
    assert contains("7,392,841", "it is 7392841")


def test_decimals_are_whole_numbers_too() -> None:
    assert contains("3.14", "Pi is about 3.14.")
    assert not contains("3.14", "Pi is about 3.145.")
    assert not contains("3", "Pi is about 3.14.")


def test_contains_normalises_case_whitespace_and_punctuation() -> None:
    answer = "eat a sandwich and sit in Dolores Park on a sunny day"
    response = "The best thing: EAT a sandwich, and sit in\n Dolores   Park on a sunny day!"
    assert contains(answer, response)
    assert contains("Dolores Park", "dolores-park")
    assert not contains("Dolores Park", "Dolores Parking")
    uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert contains(uuid, f"id {uuid.upper()}.")
    assert not contains(uuid, "id 1b4e28ba-2fa1-11d2-883f-0016d3cca4270")


def test_words_match_whole_words_only() -> None:
    assert not contains("cat", "concatenate")
    assert contains("cat", "The Cat.")
    assert not contains("", "anything")


def test_exact_wants_the_whole_response() -> None:
    assert exact("7392841", " 7,392,841. ")
    assert exact("Dolores Park", "dolores park!")
    assert not exact("7392841", "The number is 7392841.")


def test_regex_escapes_the_answer() -> None:
    pattern = r"number is \**{answer}\b"
    assert regex("7392841", "The number is **7392841**", pattern)
    assert not regex("7392841", "The number was 7392841", pattern)
    # a dot in the answer is literal, not "any character"
    assert regex("a.b", "number is a.b", pattern)
    assert not regex("a.b", "number is axb", pattern)


def test_regex_spec_is_checked_before_use() -> None:
    with pytest.raises(ConfigError, match=r"^scoring.pattern: is required"):
        check_spec(ScoringSpec(kind="regex"))
    with pytest.raises(ConfigError, match=r"^scoring.pattern: invalid regex"):
        check_spec(ScoringSpec(kind="regex", pattern="([{answer}"))
    check_spec(ScoringSpec(kind="regex", pattern="{answer}"))
    check_spec(CONTAINS)


def test_score_is_the_fraction_of_needles_found_in_needle_order() -> None:
    needles = [N("111"), N("222"), N("333"), N("444")]
    value, hits = score(needles, "I found 222 and 444; also 3333.", CONTAINS)
    assert value == 0.5
    assert hits == [False, True, False, True]


def test_score_takes_stored_needles_too() -> None:
    stored = [NeedleResult(text="x", answer="42", token_offset=0, actual_depth=0.0)]
    assert score(stored, "the answer is 42", ScoringSpec(kind="exact")) == (0.0, [False])
    assert score(stored, "42", ScoringSpec(kind="exact")) == (1.0, [True])
    regex_spec = ScoringSpec(kind="regex", pattern=r"answer is {answer}$")
    assert score(stored, "the answer is 42", regex_spec) == (1.0, [True])


def test_normalize() -> None:
    assert normalize("  Hello,\tWORLD!  7,392,841 ") == "hello world 7392841"


def test_a_response_is_normalised_once_however_many_needles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scoring is linear in needles: the response is not re-normalised per needle."""
    import niah.scoring as scoring

    texts: list[int] = []
    real = scoring._variants

    def counting(text: str) -> set[str]:
        texts.append(len(text))
        return real(text)

    monkeypatch.setattr(scoring, "_variants", counting)
    needles = [N(str(1_000_000 + 7 * i)) for i in range(1000)]
    response = " ".join(n.answer for n in needles[::2]) * 3
    value, hits = score(needles, response, CONTAINS)
    assert value == 0.5 and hits == [i % 2 == 0 for i in range(1000)]
    assert texts.count(len(response)) == 1  # once for the response, once per short answer
    assert len(texts) == 1001


@pytest.mark.parametrize(
    ("text", "reason", "kind", "value"),
    [
        ("", "stop", "empty", None),
        ("   \n", "length", "truncated", None),  # all the budget went to thinking
        ("", "model_context_window_exceeded", "truncated", None),
        ("The special magic number is", "length", "truncated", None),
        ("The special magic number is", "max_tokens", "truncated", None),
        ("The special magic number is", "MAX_TOKENS", "truncated", None),
        ("The special magic number is 42 and", "length", None, 1.0),  # cut, but it is there
        ("The special magic number is", "stop", None, 0.0),  # a real miss
        ("The special magic number is", None, None, 0.0),
    ],
)
def test_grade_tells_a_miss_from_a_reply_without_an_answer(
    text: str, reason: str | None, kind: str | None, value: float | None
) -> None:
    graded = grade([N("42")], text, reason, CONTAINS)
    assert graded.score == value
    assert (graded.error.kind if graded.error else None) == kind
    if kind == "truncated":
        assert "raise run.max_tokens" in graded.error.message  # type: ignore[union-attr]


def test_a_cut_reply_with_some_of_many_answers_is_truncated_keeping_its_hits() -> None:
    graded = grade([N("11"), N("22"), N("33")], "I saw 11 and 33 and", "length", CONTAINS)
    assert graded.score is None and graded.error is not None
    assert graded.error.kind == "truncated" and graded.hits == [True, False, True]
