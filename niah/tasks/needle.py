"""The default task: needles (one, many, keyed, distractors) in a haystack, found by
the scorer (``niah.haystack.builder.PromptBuilder`` and ``niah.scoring.grade``).

``check`` refuses before any work what the builder would only hit mid-run: more
needles than a kind of value or key can make distinct, and more needle text than the
shortest context can hold (``needles[i].count``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from niah.config import Experiment, KeySpec, ModelSpec, ScoringSpec
from niah.errors import ConfigError
from niah.needles import draw_needles, key_capacity, value_capacity
from niah.plan import Trial, needle_depths
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
    one_per_trial: bool = False
    """Each trial holds one needle of the list, ``needles[repeat mod n]``, asked by its
    own question: a set of needle/question pairs (NoLiMa's) tested over the repeats
    (``grid.repeats`` a multiple of the list's length tests each pair in every cell)."""


class NeedleTask:
    """Needles in a haystack; each needle is one scored item."""

    name: ClassVar[str] = "needle"
    options_model: ClassVar[type[BaseModel] | None] = NeedleOptions

    def check(self, experiment: Experiment, options: Any) -> None:
        _check_distinct(experiment)
        if experiment.media is not None:  # lengths are seconds: the media builder checks
            return
        for part in _parts(experiment, options):
            _check_room(part)

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> Builder:
        if experiment.media is not None:  # a video or audio haystack
            from niah.media.builder import MediaBuilder

            return MediaBuilder(experiment, model)
        from niah.haystack.builder import PromptBuilder  # numpy and corpora: when used

        if options is not None and options.one_per_trial:
            return OneNeedle(experiment, model)
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
        if experiment.needles[i].count == 1:  # no count to lower: the lengths are too short
            raise ConfigError("grid.context_lengths", f"{shortest} tokens cannot hold the "
                              f"needles ({sum(sizes)} tokens); use longer contexts")
        raise ConfigError(
            f"needles[{i}].count",
            f"{experiment.total_needles} needles take {sum(sizes):,} tokens of "
            f"{model.id}'s tokenizer, more than the shortest context "
            f"({shortest:,} tokens) holds; use fewer needles or longer contexts")


def _parts(experiment: Experiment, options: Any) -> list[Experiment]:
    """The experiments a trial may be built from: the whole, or one per needle."""
    if options is None or not options.one_per_trial:
        return [experiment]
    return [experiment.model_copy(update={"needles": [spec]}) for spec in experiment.needles]


class OneNeedle:
    """``one_per_trial``: trial k is built from ``needles[k.repeat mod n]`` alone, by one
    ``PromptBuilder`` per needle sharing the tokenizer (corpora load from niah's cache)."""

    def __init__(self, experiment: Experiment, model: ModelSpec) -> None:
        from niah.haystack.builder import PromptBuilder

        self.parts = _parts(experiment, NeedleOptions(one_per_trial=True))
        first = PromptBuilder(self.parts[0], model)
        self.tokenizer = first.tokenizer
        self.source = first.source
        self._builders: dict[int, PromptBuilder] = {0: first}
        self._model = model

    def build(self, trial: Trial) -> BuiltPrompt:
        from niah.haystack.builder import PromptBuilder

        k = trial.repeat % len(self.parts)
        if k not in self._builders:
            self._builders[k] = PromptBuilder(self.parts[k], self._model, self.tokenizer)
        depths = needle_depths(self.parts[k], trial.requested_depth)
        built = self._builders[k].build(dataclasses.replace(trial, needle_depths=depths))
        return dataclasses.replace(built, trial=trial)  # the row is the planned trial's
