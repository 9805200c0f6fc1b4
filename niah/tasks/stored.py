"""A stored row as the ``BuiltPrompt`` its task grades against, so ``niah rescore``
scores stored answers through the task that made them, without rebuilding prompts."""

from __future__ import annotations

from typing import Any

from niah.config import ScoringSpec
from niah.plan import Trial
from niah.prompt import BuiltPrompt, PlacedNeedle
from niah.results import ResultRow
from niah.tasks.base import Task


def stored_prompt(row: ResultRow) -> BuiltPrompt:
    """The row's trial, needles, question and sizes; no messages (prompts are not stored:
    ``niah prompt`` rebuilds them)."""
    needles = [PlacedNeedle(text=n.text, answer=n.answer, key=n.key,
                            token_offset=n.token_offset, actual_depth=n.actual_depth,
                            distractor=n.distractor) for n in row.needles]
    trial = Trial(trial_id=row.trial_id, context_length=row.context_length,
                  requested_depth=row.requested_depth, repeat=row.repeat, seed=row.seed,
                  needle_depths=tuple(n.actual_depth for n in row.needles))
    question = row.extra.get("question")
    return BuiltPrompt(
        trial=trial, context_span=(0, 0), context_tokens=row.context_tokens, messages=[],
        prompt_tokens=row.prompt_tokens, needles=needles, actual_depth=row.actual_depth,
        prompt_sha256=row.prompt_sha256, question=question if isinstance(question, str) else "",
        haystack_tokens=row.context_tokens,
    )


def regrade(row: ResultRow, task: Task, options: Any, spec: ScoringSpec) -> ResultRow:
    """``row`` with its score, per-needle hits and answer error from ``task.grade``."""
    result = task.grade(stored_prompt(row), row.response or "", row.finish_reason, spec, options)
    needles = [n.model_copy(update={"found": hit})
               for n, hit in zip(row.needles, result.hits, strict=True)]
    return row.model_copy(update={"score": result.score, "needles": needles,
                                  "error": result.error})
