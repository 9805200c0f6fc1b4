"""The LLM judge (``scoring.kind: judge``): its request, its verdict, the row it changes.

After a trial's answer arrives, a separate judge model is asked to grade it against
the expected answers; the runner sends that request like any other (rate limits,
retries, the response cache, cost), so a rerun sends no judge request twice. Here
are only plain functions: the request for one row, the verdict read from the
judge's reply, and the row with the verdict applied.

Rubrics (what the judge is told, and how its number becomes niah's 0..1 score):

- ``gkamradt``: gkamradt's needle-in-a-haystack grading criteria (1, 3, 5, 7, 10),
  reworded; the judge gives an integer 1-10, stored as ``(verdict - 1) / 9`` so a
  score-1 miss is 0 and a 10 is 1 (the mapping niah's gkamradt importer and report
  already use; ``verdict / 10`` would give a complete miss 10% recall).
- ``binary``: 1 when the response gives every expected answer, else 0.
- any other text: your criteria; the judge gives a number from 0 to 1.

The judge replies with JSON ``{"score": N, "reason": "..."}``; a bare number (as
gkamradt's evaluator asked for) is accepted too. Anything else, or a number outside
the rubric's range, is a malformed verdict: the row keeps its answer, records the
judge's error (``judge.error``, kind ``judge_output``) and is not scored (``error``
kind ``judge``), never a crash.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from niah.backends.base import Completion, Message, Request
from niah.backends.registry import request_temperature
from niah.config import Experiment, ModelSpec, ScoringSpec
from niah.importers import JUDGE_KEY
from niah.pricing import cost, price_for
from niah.results import JUDGE_ERROR, ErrorInfo, JudgeResult, ResultRow, UsageInfo

RUBRIC_TEXT = {
    "gkamradt": (
        "Grade how well the response gives the expected answer, as an integer from 1 to 10:\n"
        "1: the response does not give the expected answer or anything related to it.\n"
        "3: it touches on the subject but does not give the expected answer.\n"
        "5: it gives part of the expected answer, with mistakes.\n"
        "7: it gives the expected answer with small omissions.\n"
        "10: it gives the expected answer completely and accurately."
    ),
    "binary": (
        "Grade 1 when the response gives every expected answer (wording may differ, "
        "values such as numbers and names must match exactly), otherwise 0."
    ),
}
SCALES = {"gkamradt": (1.0, 10.0), "binary": (0.0, 1.0), "custom": (0.0, 1.0)}
"""The range of the judge's number per rubric; its 0..1 score maps this range linearly."""
SYSTEM = (
    "You are a strict grader of answers to a retrieval question about a long document. "
    "You see the question, the expected answer(s) and a response; you do not see the "
    "document. Reply with JSON only: {\"score\": <number>, \"reason\": \"<one sentence>\"}."
)
MAX_REPLY_CHARS = 4000
"""The judge's reply kept on the row (a runaway reply is cut, the verdict is read first)."""
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_BARE_NUMBER = re.compile(r"^\s*(?:score\s*[:=]?\s*)?\[{0,2}\s*(-?\d+(?:\.\d+)?)\s*\]{0,2}\s*$",
                          re.IGNORECASE)


def rubric_name(spec: ScoringSpec) -> str:
    """``gkamradt``, ``binary`` or ``custom``."""
    return spec.rubric if spec.rubric in RUBRIC_TEXT else "custom"


def judge_prompt(spec: ScoringSpec, question: str, answers: list[str], response: str) -> str:
    """The judge's user message for one response."""
    name = rubric_name(spec)
    criteria = RUBRIC_TEXT.get(name) or (
        f"Grade the response by these criteria, as a number from 0 (fails them) to 1 "
        f"(meets them fully):\n{spec.rubric}")
    expected = "\n".join(f"- {a}" for a in answers) or "(none recorded)"
    return (f"Question:\n{question or '(not recorded)'}\n\nExpected answer(s):\n{expected}\n\n"
            f"Response:\n<<<\n{response}\n>>>\n\n{criteria}")


def judge_request(experiment: Experiment, row: ResultRow) -> Request:
    """The request asking the judge about ``row``'s response (scored rows only)."""
    spec = experiment.scoring
    assert spec.model is not None, "judge_request needs scoring.kind judge"
    answers = [n.answer for n in row.needles if not n.distractor]
    question = str(row.extra.get("question") or "")
    text = judge_prompt(spec, question, answers, row.response or "")
    return Request(
        messages=[Message(role="system", content=SYSTEM), Message(role="user", content=text)],
        max_tokens=spec.max_tokens, temperature=request_temperature(spec.model, "auto"),
        seed=experiment.seed,
    )


@dataclass(frozen=True)
class Verdict:
    """A judge's reply read: its number, that number on 0..1, and its reason."""

    verdict: float
    score: float
    reason: str | None


class MalformedVerdict(ValueError):
    """The judge's reply holds no verdict niah can read (stored, never raised past here)."""


def parse_verdict(text: str, rubric: str) -> Verdict:
    """The verdict in a judge's reply, or ``MalformedVerdict`` saying what is wrong."""
    low, high = SCALES[rubric]
    value: object = None
    reason: str | None = None
    bare = _BARE_NUMBER.match(text)
    if bare:
        value = float(bare.group(1))
    else:
        found = _JSON_OBJECT.search(text)
        if found is None:
            raise MalformedVerdict('no JSON object {"score": ..., "reason": ...} in the reply')
        try:
            data = json.loads(found.group(0))
        except ValueError:
            raise MalformedVerdict("the reply's JSON does not parse") from None
        if not isinstance(data, dict) or "score" not in data:
            raise MalformedVerdict('the reply\'s JSON has no "score"')
        value, why = data["score"], data.get("reason")
        reason = why if isinstance(why, str) else None
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise MalformedVerdict(f"score {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedVerdict(f"score {value!r} is not a number")
    number = float(value)
    if not low <= number <= high:
        raise MalformedVerdict(f"score {number:g} is outside {low:g}..{high:g} ({rubric} rubric)")
    if rubric == "binary" and number not in (0.0, 1.0):
        raise MalformedVerdict(f"score {number:g} is not 0 or 1 (binary rubric)")
    return Verdict(number, (number - low) / (high - low), reason)


def needs_judge(row: ResultRow) -> bool:
    """A row with an answer to judge: scored by the baseline, or a judge error to retry."""
    if row.response is None or not row.response.strip():
        return False
    return row.error is None or row.error.kind == JUDGE_ERROR


def apply_verdict(
    experiment: Experiment, row: ResultRow, completion: Completion | None,
    error: ErrorInfo | None, attempts: int, cached: bool,
) -> ResultRow:
    """``row`` with the judge's verdict: ``score`` is the judge's, the baseline's kept in
    ``judge.deterministic_score``; no verdict (API error, malformed) leaves the row
    unscored with an ``error`` of kind ``judge``. The judge's cost stays apart."""
    spec = experiment.scoring
    judge_spec = spec.model
    assert judge_spec is not None, "apply_verdict needs scoring.kind judge"
    rubric = rubric_name(spec)
    baseline = row.judge.deterministic_score if row.judge is not None else row.score
    result = JudgeResult(model=judge_spec.id, rubric=rubric, deterministic_score=baseline,
                         attempts=attempts, cached=cached, error=error)
    if completion is not None:
        result.usage = UsageInfo(**completion.usage.model_dump())
        result.latency_s = completion.latency_s
        result.reply = completion.text[:MAX_REPLY_CHARS]
        result.cost_usd = _cost(experiment, judge_spec, completion)
        try:
            verdict = parse_verdict(completion.text, rubric)
        except MalformedVerdict as exc:
            result.error = ErrorInfo(kind="judge_output", message=str(exc))
        else:
            result.verdict, result.score, result.reason = (verdict.verdict, verdict.score,
                                                           verdict.reason)
    extra = {k: v for k, v in row.extra.items() if k != JUDGE_KEY}
    if result.error is not None:
        message = f"{judge_spec.id}: {result.error.kind}: {result.error.message}"
        return row.model_copy(update={
            "judge": result, "score": None, "extra": extra,
            "error": ErrorInfo(kind=JUDGE_ERROR, message=message, status=result.error.status)})
    if rubric == "gkamradt":  # the report draws gkamradt verdicts on their own 1-10 scale
        extra[JUDGE_KEY] = result.verdict
    return row.model_copy(update={"judge": result, "score": result.score, "error": None,
                                  "extra": extra})


def _cost(experiment: Experiment, spec: ModelSpec, completion: Completion) -> float | None:
    usage = completion.usage
    prompt, output = usage.prompt_tokens, usage.completion_tokens
    price = price_for(spec, experiment.pricing, prompt or 0)
    if price is not None and price.input == price.output == 0:
        return 0.0  # a local judge
    if prompt is None or output is None:
        return None  # a judge that does not report usage: unknown, never guessed as 0
    return cost(price, prompt, output, usage.cached_tokens or 0, usage.cache_write_tokens or 0)
