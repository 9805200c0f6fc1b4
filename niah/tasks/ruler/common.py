"""What RULER's tasks share: options, metrics and grading, word lists, and how a prompt
made of whole items (list entries, documents) is fitted under a length and recorded.

RULER (Hsieh et al. 2024, github.com/NVIDIA/RULER) sends one user message: the task's
template with its answer prefix appended, no system message. Its length counts the
prompt and the tokens left for the answer (``tokens_to_generate``); niah takes that
budget from ``run.max_tokens`` when ``task.options.length_includes_output`` is on (the
default), with ``grid.length_includes_prompt: true``.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import resources
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from niah.config import Experiment, ScoringSpec
from niah.config_errors import config_error
from niah.errors import ConfigError, HaystackError
from niah.haystack.builder import CHAT_OVERHEAD_PER_MESSAGE, CHAT_OVERHEAD_REPLY
from niah.haystack.corpus import _encode_chunks
from niah.haystack.digest import prompt_digest
from niah.haystack.template import render_user
from niah.plan import Trial
from niah.prompt import BuiltPrompt, PlacedNeedle
from niah.results import ErrorInfo
from niah.scoring import Grade, is_truncated
from niah.scoring import grade as niah_grade
from niah.tokenizers import Tokenizer

Metric = Literal["string_match_all", "string_match_part", "scoring"]

DEPTHS: tuple[int, ...] = tuple(int(x) for x in np.round(np.linspace(0, 100, num=40)))
"""RULER's 40 insertion depths (percent), sampled without replacement per sample."""


class RulerOptions(BaseModel):
    """Options every RULER task takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Metric | None = None
    """``string_match_all`` (fraction of references in the answer), ``string_match_part``
    (1 if any reference is), or ``scoring`` (niah's ``scoring`` block); default: RULER's
    metric for the task."""
    length_includes_output: bool = True
    """RULER's length convention: a length holds the prompt and ``run.max_tokens`` of
    answer (needs ``grid.length_includes_prompt: true``)."""


_O = TypeVar("_O", bound=RulerOptions)


def parse_options(model: type[_O], options: Any) -> _O:
    """``task.options`` as ``model``; a bad one is a ``task.options.X`` config error."""
    if isinstance(options, model):
        return options
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        raise config_error(exc, prefix="task.options.", model=model) from None


def check_common(experiment: Experiment, opts: RulerOptions) -> None:
    if opts.length_includes_output and not experiment.grid.length_includes_prompt:
        raise ConfigError(
            "task.options.length_includes_output",
            "counts the answer inside the length, so it needs "
            "grid.length_includes_prompt: true (or set it to false)",
        )


def output_budget(experiment: Experiment, opts: RulerOptions) -> int:
    """Tokens of the length kept for the answer (RULER's ``tokens_to_generate``)."""
    return experiment.run.max_tokens if opts.length_includes_output else 0


# -- scoring ---------------------------------------------------------------------------

def string_match_all(references: Sequence[str], prediction: str) -> float:
    """RULER's metric: the fraction of references found (case-insensitive substrings)."""
    pred = prediction.lower()
    return sum(r.lower() in pred for r in references) / len(references) if references else 0.0


def string_match_part(references: Sequence[str], prediction: str) -> float:
    """RULER's metric for QA: 1 if any reference is found, else 0."""
    pred = prediction.lower()
    return float(any(r.lower() in pred for r in references))


def ruler_grade(bp: BuiltPrompt, response: str, finish_reason: str | None,
                scoring: ScoringSpec, metric: Metric) -> Grade:
    """Score per item (``hits`` in ``bp.needles`` order); distractors get a hit flag but
    no weight. RULER's metrics score a reply cut at the output limit as it stands (the
    limit is part of the task); an empty reply is an error row, not a miss."""
    if metric == "scoring":
        return niah_grade(bp.needles, response, finish_reason, scoring)
    reply = response.strip()
    if not reply:
        cut = is_truncated(finish_reason)
        return Grade(None, [None] * len(bp.needles), ErrorInfo(
            kind="truncated" if cut else "empty",
            message=f"the reply is empty (finish_reason {finish_reason or 'unknown'})"
            + ("; raise run.max_tokens (thinking models need room)" if cut else "")))
    hits: list[bool | None] = [n.answer.lower() in reply.lower() for n in bp.needles]
    refs = [n.answer for n in bp.needles if not n.distractor]
    value = (string_match_all if metric == "string_match_all" else string_match_part)(refs, reply)
    return Grade(value, hits)


# -- random values ----------------------------------------------------------------------

@functools.cache
def words() -> tuple[str, ...]:
    """The shipped English word list (``niah/data/ruler_words.txt``), sorted."""
    text = resources.files("niah").joinpath("data/ruler_words.txt").read_text("utf-8")
    return tuple(w for w in text.split("\n") if w and not w.startswith("#"))


class RulerGrading:
    """``Task.grade`` of RULER's tasks: RULER's metric (``task.options.metric``, else the
    task's own default) over the built items."""

    options_model: ClassVar[Any] = RulerOptions
    default_metric: ClassVar[Metric] = "string_match_all"

    def grade(self, bp: BuiltPrompt, response: str, finish_reason: str | None,
              scoring: ScoringSpec, options: Any) -> Grade:
        opts = parse_options(self.options_model, options)
        return ruler_grade(bp, response, finish_reason, scoring,
                           opts.metric or self.default_metric)


def draw(kind: str, rng: random.Random) -> str:
    """One random key or value, RULER's kinds: 7-digit number, word pair, UUID."""
    if kind == "numbers":
        return str(rng.randint(10**6, 10**7 - 1))
    if kind == "words":
        w = words()
        return f"{rng.choice(w)}-{rng.choice(w)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# -- prompts made of whole items ---------------------------------------------------------

def fit_count(make: Callable[[int], int], budget: int, lo: int, hi: int, what: str,
              length: int) -> int:
    """The largest ``n`` in ``[lo, hi]`` with ``make(n) <= budget`` (tokens grow with n),
    by bisection as RULER does; a length too short for ``lo`` items is an error."""
    least = make(lo)
    if least > budget:
        raise HaystackError(
            f"grid.context_lengths: {length} tokens cannot hold the smallest {what} "
            f"({least} tokens, and {length - budget} kept for the answer); use longer contexts")
    top = hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if make(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    # counts are not strictly monotone (a reshuffled list merges differently): look a
    # few items further for one that still fits
    return max([n for n in range(lo + 1, min(lo + 9, top + 1)) if make(n) <= budget],
               default=lo)


class ItemPrompt:
    """A one-message prompt (template, context, question) and its token counts, counted
    as niah's builder counts them: context + the rest + chat markup."""

    def __init__(self, tokenizer: Tokenizer, template: str, context: str, question: str):
        self.tokenizer = tokenizer
        self.template = template
        self.context = context
        self.question = question
        self.context_tokens = tokenizer.count(context)
        self.overhead = (tokenizer.count(render_user(template, "", question))
                         + CHAT_OVERHEAD_PER_MESSAGE + CHAT_OVERHEAD_REPLY)

    def tokens(self, includes_prompt: bool) -> int:
        """What a length counts: the whole prompt, or the context alone."""
        return self.context_tokens + (self.overhead if includes_prompt else 0)

    def built(self, trial: Trial, items: Sequence[tuple[str, str, str | None, int, bool]],
              haystack_tokens: int | None = None) -> BuiltPrompt:
        """The ``BuiltPrompt``; ``items`` are (text, answer, key, character offset in the
        context, distractor), their token offsets found by encoding the context once."""
        _, starts = _encode_chunks(self.tokenizer, [self.context])
        data = self.context.encode()
        placed = []
        for text, answer, key, at, distractor in items:
            byte_at = len(self.context[:at].encode()) if at >= 0 else len(data)
            tok = max(int(np.searchsorted(starts, byte_at, "right")) - 1, 0)
            depth = round(100.0 * tok / self.context_tokens, 4) if self.context_tokens else 0.0
            placed.append(PlacedNeedle(text=text, answer=answer, key=key, token_offset=tok,
                                       actual_depth=depth, distractor=distractor))
        user = render_user(self.template, self.context, self.question)
        start = self.template.index("{context}")
        start += len(self.question) if self.template.index("{question}") < start else 0
        messages = [{"role": "user", "content": user}]
        main = next((p for p in placed if not p.distractor), placed[0])
        return BuiltPrompt(
            trial=trial,
            context_span=(start, start + len(self.context)),
            context_tokens=self.context_tokens,
            messages=messages,
            prompt_tokens=self.context_tokens + self.overhead,
            needles=placed,
            actual_depth=main.actual_depth,
            prompt_sha256=prompt_digest(messages),
            question=self.question,
            haystack_tokens=self.context_tokens if haystack_tokens is None else haystack_tokens,
        )


def with_trial(bp: BuiltPrompt, trial: Trial) -> BuiltPrompt:
    """``bp`` as built for ``trial`` (a builder may have been given a shifted copy)."""
    return replace(bp, trial=trial)
