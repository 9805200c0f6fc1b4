"""RULER's items placed in a text haystack (essay, noise, or lines of distractor
needles) by niah's exact builder: the context has exactly the tokens the length asks
for, each item at a sentence start of its requested depth."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

from niah.config import Experiment, HaystackSpec, ModelSpec, NeedleSpec, PromptSpec
from niah.haystack.builder import FILL_RESERVE, PromptBuilder
from niah.haystack.corpus import Corpus
from niah.haystack.sources import Source
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.tasks.ruler.common import draw, words

NEEDLE = "One of the special magic {kind} for {key} is: {value}."
"""RULER's needle sentence (``{kind}``: numbers, words or uuids)."""
LINES_PER_PARAGRAPH = 64
SOURCE_VERSION = 1


@dataclass(frozen=True)
class Item:
    """One sentence to place and what answers it."""

    text: str
    answer: str
    key: str | None
    depth: float
    distractor: bool = False


class _PerTrialBuilder(PromptBuilder):
    """niah's builder whose needles, template and question change with each trial."""

    def overhead_tokens(self, question: str) -> int:
        key = self.experiment.prompt.template + "\0" + question
        if key not in self._overhead:
            self._overhead[key] = self._count_overhead(question)
        return self._overhead[key]


def distractor_source(key_kind: str, value_kind: str, seed: int, tokens: int) -> Source:
    """RULER's ``needle`` haystack: needle-shaped lines with random keys and values, one
    stream per experiment seed (RULER draws them per sample), long enough for
    ``tokens`` (a line is over 10 tokens in any tokenizer)."""
    rng = random.Random(f"ruler-distractors-{seed}")
    n_lines = -(-(tokens // 10 + 1) // LINES_PER_PARAGRAPH) * LINES_PER_PARAGRAPH
    lines = [NEEDLE.format(kind=value_kind, key=draw(key_kind, rng), value=draw(value_kind, rng))
             for _ in range(n_lines)]
    paras = ["\n".join(lines[i:i + LINES_PER_PARAGRAPH])
             for i in range(0, n_lines, LINES_PER_PARAGRAPH)]
    digest = hashlib.sha256("\n".join(words()).encode()).hexdigest()[:12]  # the pairs' words
    return Source(key=f"ruler-needles-v{SOURCE_VERSION}-{key_kind}-{value_kind}-{seed}-{n_lines}"
                      f"-{digest}",
                  description=f"RULER distractor needles ({key_kind} -> {value_kind})",
                  finite=True, _paragraphs=paras)


class TextBuilder:
    """Builds a trial's prompt from items, a template and a question."""

    def __init__(self, experiment: Experiment, model: ModelSpec, haystack: str,
                 output_tokens: int, kinds: tuple[str, str] = ("words", "numbers")) -> None:
        spec = experiment.haystack if haystack == "essay" else HaystackSpec(kind="noise")
        self.base = experiment.model_copy(update={"haystack": spec,
                                                  "prompt": PromptSpec(system=None)})
        self.pb = _PerTrialBuilder(self.base, model)
        if haystack == "needle":
            need = max(experiment.grid.lengths()) + FILL_RESERVE
            self.pb.source = distractor_source(*kinds, experiment.seed, need)
        self.tokenizer = self.pb.tokenizer
        self.output_tokens = output_tokens

    @property
    def corpus(self) -> Corpus:
        return self.pb.corpus

    def place(self, trial: Trial, items: list[Item], template: str,
              question: str) -> BuiltPrompt:
        """``items[0]`` is the main one (its depth is the trial's requested depth)."""
        needles = [NeedleSpec(text=i.text, answer=i.answer, key=i.key, distractor=i.distractor)
                   for i in items]
        self.pb.experiment = self.base.model_copy(update={
            "needles": needles,
            "prompt": PromptSpec(system=None, template=template, question=question)})
        shifted = replace(trial, context_length=trial.context_length - self.output_tokens,
                          needle_depths=tuple(i.depth for i in items),
                          requested_depth=items[0].depth)
        bp = self.pb.build(shifted)
        return replace(bp, trial=trial)
