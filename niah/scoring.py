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
from dataclasses import dataclass
from typing import Protocol

from niah.config import ScoringSpec
from niah.errors import ConfigError
from niah.results import ErrorInfo, ResultRow

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


class Response:
    """A response normalised once, so checking n needles costs n set lookups, not n
    normalisations or scans of the reply: scoring is linear in needles (1,000 needles,
    and a reply listing them all, score in milliseconds)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.variants = _variants(text)
        self.words = set().union(*(v.split(" ") for v in self.variants))
        """A one-word answer is found by a set lookup instead of a scan of the reply."""
        self._grams: dict[int, set[str]] = {1: self.words}

    def grams(self, n: int) -> set[str]:
        """Every run of ``n`` words of the reply, made once per ``n``: an answer of n
        words (a UUID's groups, a name) is then a set lookup too."""
        if n not in self._grams:
            self._grams[n] = _word_runs(self.variants, n)
        return self._grams[n]


def _word_runs(variants: set[str], n: int) -> set[str]:
    out: set[str] = set()
    for variant in variants:
        words = variant.split(" ")
        out.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return out


def _as_response(response: str | Response) -> Response:
    return response if isinstance(response, Response) else Response(response)


def contains(answer: str, response: str | Response) -> bool:
    """True when the normalised answer appears in the response as whole words."""
    answers = {a for a in _variants(answer) if a}
    reply = _as_response(response)
    return any(a in reply.grams(a.count(" ") + 1) for a in answers)


def exact(answer: str, response: str | Response) -> bool:
    """True when the whole normalised response is the answer."""
    return bool(_variants(answer) & _as_response(response).variants - {""})


@functools.lru_cache(maxsize=4096)
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
    spec = spec.deterministic  # a judge's baseline scorer too
    if spec.kind != "regex":
        return
    if not spec.pattern:
        raise ConfigError("scoring.pattern", "is required when scoring.kind is regex")
    _compiled(spec.pattern, "0")


def found(answer: str, response: str | Response, spec: ScoringSpec) -> bool:
    """Whether one needle's answer is in the response, by ``spec.kind`` (for an LLM
    judge, by its deterministic ``baseline``: the judge is asked in ``niah.judge``)."""
    spec = spec.deterministic
    if spec.kind == "contains":
        return contains(answer, response)
    if spec.kind == "exact":
        return exact(answer, response)
    check_spec(spec)
    assert spec.pattern is not None
    text = response.text if isinstance(response, Response) else response
    return regex(answer, text, spec.pattern)


def score(
    needles: Sequence[HasAnswer], response: str, spec: ScoringSpec
) -> tuple[float, list[bool]]:
    """Fraction of asked-for needles found, and which needles were (in needle order).

    Distractors get a hit flag too (the model repeated a value it was not asked for)
    but do not count towards the score. The response is normalised once.
    """
    normalised = Response(response)
    hits = [found(n.answer, normalised, spec) for n in needles]
    asked = [h for n, h in zip(needles, hits, strict=True) if not getattr(n, "distractor", False)]
    return (sum(asked) / len(asked) if asked else 0.0), hits


TRUNCATED_REASONS = frozenset({
    "length", "max_tokens", "max_output_tokens", "MAX_TOKENS", "model_context_window_exceeded",
})
"""Finish reasons that mean the output hit a token limit: OpenAI and llama.cpp
(``length``), Anthropic (``max_tokens``, and ``model_context_window_exceeded`` when the
window ends first), OpenAI Responses (``max_output_tokens``), Gemini (``MAX_TOKENS``)."""


def is_truncated(finish_reason: str | None) -> bool:
    return finish_reason in TRUNCATED_REASONS


@dataclass(frozen=True)
class Grade:
    """A response judged: a score, per-needle hits, or an answer error (no score)."""

    score: float | None
    hits: list[bool | None]
    error: ErrorInfo | None = None


def grade(
    needles: Sequence[HasAnswer], response: str, finish_reason: str | None, spec: ScoringSpec
) -> Grade:
    """Score a reply, telling a miss from a reply that holds no answer.

    An empty reply, or one cut by the token limit that lacks an asked-for answer, is
    an error row (``empty`` / ``truncated``), never a miss: the model was not heard.
    A cut reply that holds every answer scores as found.
    """
    reason = finish_reason or "unknown"
    cut = is_truncated(finish_reason)
    if not response.strip() and not cut:
        return Grade(None, [None] * len(needles), ErrorInfo(
            kind="empty", message=f"the reply is empty (finish_reason {reason})"))
    value, hits = score(needles, response, spec)
    if cut and value < 1.0:
        # a thinking model that spent the whole budget reasoning lands here, text or none
        return Grade(None, list(hits), ErrorInfo(
            kind="truncated",
            message=f"the reply hit the output limit ({reason}) before the answer; "
            "raise run.max_tokens (thinking models need room for their reasoning)"))
    return Grade(value, list(hits))


def score_row(row: ResultRow, response: str, finish_reason: str | None,
              spec: ScoringSpec) -> ResultRow:
    """``row`` with its score, hits and answer error recomputed (``niah rescore``)."""
    result = grade(row.needles, response, finish_reason, spec)
    needles = [n.model_copy(update={"found": hit})
               for n, hit in zip(row.needles, result.hits, strict=True)]
    return row.model_copy(update={"score": result.score, "needles": needles,
                                  "error": result.error})
