"""The task contract: a task builds a trial's prompt and grades the answer to it.

``needle`` (the default) is today's ``niah.haystack.builder.PromptBuilder`` with
``niah.scoring.grade``; other tasks (RULER's multi-key, variable tracking, word
extraction, QA) build their own contexts but return the same ``BuiltPrompt``, whose
``needles`` are the task's scored items (a needle, a chain's variable, a common word, a
QA answer), so rows keep one shape across tasks.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from niah.config import Experiment, ModelSpec, ScoringSpec
from niah.prompt import Builder, BuiltPrompt
from niah.scoring import Grade


class Task(Protocol):
    """One kind of trial. Registered by name (``task: {name: ..., options: {...}}``)."""

    name: ClassVar[str]
    options_model: ClassVar[type[BaseModel] | None]
    """The pydantic class of ``task.options`` (``extra="forbid"``); None takes none."""

    def check(self, experiment: Experiment, options: Any) -> None:
        """Refuse what this task cannot build (``ConfigError`` naming the field), before
        anything runs: a count the haystack cannot hold, a QA file missing a field."""
        ...

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> Builder:
        """The prompt builder of this task for one model (its tokenizer)."""
        ...

    def grade(self, bp: BuiltPrompt, response: str, finish_reason: str | None,
              scoring: ScoringSpec, options: Any) -> Grade:
        """Score ``response`` item by item (``Grade.hits`` in ``bp.needles`` order)."""
        ...
