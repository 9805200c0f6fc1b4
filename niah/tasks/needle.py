"""The default task: needles (one, many, keyed, distractors) in a haystack, found by
the scorer (``niah.haystack.builder.PromptBuilder`` and ``niah.scoring.grade``).

``check`` refuses before any work what the builder would only hit mid-run: more
needles than a kind of value or key can make distinct, and more needle text than the
shortest context can hold (``needles[i].count``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from niah.config import Experiment, KeySpec, ModelSpec, ScoringSpec
from niah.errors import ConfigError
from niah.needles import draw_needles, key_capacity, value_capacity
from niah.prompt import Builder, BuiltPrompt
from niah.scoring import Grade, grade, is_truncated, score
from niah.tokenizers import tokenizer_for


class NeedleOptions(BaseModel):
    """``task.options`` of ``needle``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_cut_replies: bool = False
    """Score a reply cut by the output limit as it stands (the needles listed before the
    cut count) instead of recording it as a ``truncated`` error: for many needles, where
    a long list may run out of tokens and its partial recall is still the measure."""


class NeedleTask:
    """Needles in a haystack; each needle is one scored item."""

    name: ClassVar[str] = "needle"
    options_model: ClassVar[type[BaseModel] | None] = NeedleOptions

    def check(self, experiment: Experiment, options: Any) -> None:
        _check_distinct(experiment)
        _check_room(experiment)

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> Builder:
        from niah.haystack.builder import PromptBuilder  # numpy and corpora: when used

        return PromptBuilder(experiment, model)

    def grade(self, bp: BuiltPrompt, response: str, finish_reason: str | None,
              scoring: ScoringSpec, options: Any) -> Grade:
        if options is not None and options.score_cut_replies and is_truncated(finish_reason) \
                and response.strip():
            value, hits = score(bp.needles, response, scoring)
            return Grade(value, list(hits))
        return grade(bp.needles, response, finish_reason, scoring)


def _check_distinct(experiment: Experiment) -> None:
    """Each needle of a trial gets its own value (and drawn key): refuse counts a kind
    cannot make distinct, which the builder would only find out by failing to draw."""
    words = 0
    for i, spec in enumerate(experiment.needles):
        if spec.value is not None and spec.count > value_capacity(spec.value):
            raise ConfigError(f"needles[{i}].count", f"{spec.count} needles but value kind "
                              f"{spec.value.kind} has {value_capacity(spec.value)} distinct "
                              "values; use more digits or another kind")
        if spec.value is not None and spec.value.kind == "random_word":
            words += spec.count
            if words > value_capacity(spec.value):
                raise ConfigError(f"needles[{i}].count", f"{words} random_word values in one "
                                  f"trial but only {value_capacity(spec.value)} words exist")
        if isinstance(spec.key, KeySpec) and spec.count > key_capacity(spec.key):
            what = "names" if spec.key.kind == "names" else f"key kind {spec.key.kind}"
            raise ConfigError(f"needles[{i}].count", f"{spec.count} needles need distinct keys "
                              f"but {what} give {key_capacity(spec.key)}")


def _check_room(experiment: Experiment) -> None:
    """The needles of one trial (drawn with an empty haystack: as long as the real ones)
    must leave haystack in the shortest context, for every model's tokenizer."""
    shortest = experiment.grid.lengths()[0]
    needles = draw_needles(experiment, 0, b"")
    for model in experiment.model:
        tokenizer = tokenizer_for(experiment, model)
        sizes = [tokenizer.count(" " + n.text) for n in needles]
        if sum(sizes) < shortest:
            continue
        per_spec: list[int] = []
        at = 0
        for spec in experiment.needles:
            per_spec.append(sum(sizes[at : at + spec.count]))
            at += spec.count
        i = max(range(len(per_spec)), key=per_spec.__getitem__)
        raise ConfigError(
            f"needles[{i}].count",
            f"{experiment.total_needles} needles take {sum(sizes):,} tokens of "
            f"{model.id}'s tokenizer, more than the shortest context "
            f"({shortest:,} tokens) holds; use fewer needles or longer contexts")
