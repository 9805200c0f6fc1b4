"""Scorers: pure functions of (needles, response, ``ScoringSpec``) -> (score, found).

Being pure, scoring can be redone later from the stored rows (``niah rescore``)
without calling any model.

``contains`` (the default) normalises both texts (Unicode NFKC, case; punctuation,
symbols and whitespace only separate words) and looks for the answer as whole words.
Numbers match as whole numbers: ``7392841`` is not found in ``173928410`` nor in
``7392841.5``, while ``7,392,841`` and ``7 392 841`` count as found, because digit
groups of thousands are joined before comparing.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol

from niah.config import ScoringSpec
from niah.errors import ConfigError

_GROUPED_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:[,.\u00a0\u2009\u202f '_]\d{3})+(?![\d])")
"""Thousands written with separators: 7,392,841 / 7 392 841 / 7.392.841 / 7'392'841."""
_TOKEN = re.compile(r"[^\W_]+(?:(?<=\d)[.,](?=\d)[^\W_]+)*")
"""A run of letters and digits; a point or comma between digits stays (7392841.5, 3,14)."""


class HasAnswer(Protocol):
    """A placed needle or a stored ``NeedleResult``: anything with an answer."""

    @property
    def answer(self) -> str: ...


def _words(text: str) -> str:
    """Case-folded words and numbers joined by single spaces: punctuation, symbols and
    whitespace all separate alike."""
    return " ".join(_TOKEN.findall(text.casefold()))


def _join_groups(text: str) -> str:
    return _GROUPED_NUMBER.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)


def normalize(text: str) -> str:
    """The form ``contains`` and ``exact`` compare: grouped numbers joined, then words."""
    return _words(_join_groups(unicodedata.normalize("NFKC", text)))


def _variants(text: str) -> set[str]:
    """Both readings of digit groups ("3 123" may be 3123 or the numbers 3 and 123)."""
    text = unicodedata.normalize("NFKC", text)
    return {_words(_join_groups(text)), _words(text)}


def contains(answer: str, response: str) -> bool:
    """True when the normalised answer appears in the response as whole words."""
    answers = {a for a in _variants(answer) if a}
    if not answers:
        return False
    padded = [f" {r} " for r in _variants(response)]
    return any(f" {a} " in r for a in answers for r in padded)


def exact(answer: str, response: str) -> bool:
    """True when the whole normalised response is the answer."""
    return bool(_variants(answer) & _variants(response) - {""})


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, answer: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern.replace("{answer}", re.escape(answer)))
    except re.error as exc:
        raise ConfigError("scoring.pattern", f"invalid regex: {exc}") from None


def regex(answer: str, response: str, pattern: str) -> bool:
    """True when ``pattern`` (``{answer}`` replaced by the escaped answer) matches."""
    return _compiled(pattern, answer).search(response) is not None


def check_spec(spec: ScoringSpec) -> None:
    """Fail before a run (not on its first answer) when a regex scorer cannot work."""
    if spec.kind != "regex":
        return
    if not spec.pattern:
        raise ConfigError("scoring.pattern", "is required when scoring.kind is regex")
    _compiled(spec.pattern, "0")


def found(answer: str, response: str, spec: ScoringSpec) -> bool:
    """Whether one needle's answer is in the response, by ``spec.kind``."""
    if spec.kind == "contains":
        return contains(answer, response)
    if spec.kind == "exact":
        return exact(answer, response)
    check_spec(spec)
    assert spec.pattern is not None
    return regex(answer, response, spec.pattern)


def score(
    needles: Sequence[HasAnswer], response: str, spec: ScoringSpec
) -> tuple[float, list[bool]]:
    """Fraction of asked-for needles found, and which needles were (in needle order).

    Distractors get a hit flag too (the model repeated a value it was not asked for)
    but do not count towards the score.
    """
    hits = [found(n.answer, response, spec) for n in needles]
    asked = [h for n, h in zip(needles, hits, strict=True) if not getattr(n, "distractor", False)]
    return (sum(asked) / len(asked) if asked else 0.0), hits
