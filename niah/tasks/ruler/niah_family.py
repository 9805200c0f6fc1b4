"""RULER's eight needle tasks: single (noise / essay haystack, number / UUID values),
multi-key (1: distractor keys in an essay; 2 and 3: a haystack made of distractor
needles, word-pair or UUID keys), multi-value and multi-query.

Each trial draws its own keys and values (RULER's random key per sample), none of which
occurs in the haystack. The queried key's first value goes at the trial's depth; the
other needles at distinct random depths from RULER's 40.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

from pydantic import Field

from niah.config import Experiment, ModelSpec
from niah.errors import HaystackError
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.tasks.ruler.common import (
    DEPTHS,
    RulerGrading,
    RulerOptions,
    check_common,
    draw,
    output_budget,
    parse_options,
)
from niah.tasks.ruler.text import NEEDLE, Item, TextBuilder

Kind = Literal["numbers", "words", "uuids"]

PREAMBLE = ("Some special magic {kind} are hidden within the following text. Make sure to "
            "memorize it. I will quiz you about the {kind} afterwards.")
PREAMBLE_ONE = ("A special magic {kind} is hidden within the following text. Make sure to "
                "memorize it. I will quiz you about the {kind} afterwards.")
QUERY = "What are all the special magic {kind} for {query} mentioned in the provided text?"
QUERY_ONE = "What is the special magic {kind} for {query} mentioned in the provided text?"
ANSWER_PREFIX = " The special magic {kind} for {query} mentioned in the provided text are"
ANSWER_PREFIX_ONE = " The special magic {kind} for {query} mentioned in the provided text is"
"""RULER's template, its singular form when one value is asked for (RULER rewrites the
plural one), and the answer prefix it appends to the prompt."""


class NiahOptions(RulerOptions):
    """RULER's needle-task settings; unset ones take the task's defaults."""

    haystack: Literal["essay", "noise", "needle"] | None = None
    """``essay``: the config's ``haystack``; ``noise``: RULER's repeated filler;
    ``needle``: lines of distractor needles."""
    key_kind: Kind | None = None
    value_kind: Kind | None = None
    num_keys: int | None = Field(default=None, ge=1, le=100)
    """Keys in the context (RULER's ``num_needle_k``)."""
    num_values: int | None = Field(default=None, ge=1, le=100)
    """Values per key (``num_needle_v``)."""
    num_queries: int | None = Field(default=None, ge=1, le=100)
    """Keys asked for (``num_needle_q``); at most ``num_keys`` (RULER raises keys to it)."""
    answer_prefix: bool = True
    """End the prompt with RULER's answer prefix ("The special magic numbers for ... are")."""


def question_text(kind: str, keys: list[str], values_each: int, answer_prefix: bool) -> str:
    """RULER's question and answer prefix for the asked keys."""
    query = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + ", and " + keys[-1]
    one = len(keys) * values_each == 1
    kind = kind[:-1] if one else kind
    text = (QUERY_ONE if one else QUERY).format(kind=kind, query=query)
    prefix = (ANSWER_PREFIX_ONE if one else ANSWER_PREFIX).format(kind=kind, query=query)
    return text + (prefix if answer_prefix else "")


def template_text(kind: str, one: bool) -> str:
    head = PREAMBLE_ONE.format(kind=kind[:-1]) if one else PREAMBLE.format(kind=kind)
    return head + "\n{context}\n{question}"


class RulerNiah(RulerGrading):
    """One of RULER's needle tasks (the class attributes are its defaults)."""

    name: ClassVar[str] = "ruler/niah"
    options_model: ClassVar[type[NiahOptions]] = NiahOptions
    defaults: ClassVar[dict[str, Any]] = {}

    def options(self, options: Any) -> dict[str, Any]:
        opts = parse_options(NiahOptions, options)
        merged = {"haystack": "essay", "key_kind": "words", "value_kind": "numbers",
                  "num_keys": 1, "num_values": 1, "num_queries": 1, **self.defaults}
        merged.update({k: v for k, v in opts.model_dump().items() if v is not None})
        merged["num_keys"] = max(merged["num_keys"], merged["num_queries"])
        return merged

    def check(self, experiment: Experiment, options: Any) -> None:
        check_common(experiment, parse_options(NiahOptions, options))
        self.options(options)

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> NiahBuilder:
        self.check(experiment, options)
        return NiahBuilder(experiment, model, parse_options(NiahOptions, options),
                           self.options(options))


class NiahBuilder:
    def __init__(self, experiment: Experiment, model: ModelSpec, opts: NiahOptions,
                 s: dict[str, Any]) -> None:
        self.s = s
        self.opts = opts
        self.text = TextBuilder(experiment, model, s["haystack"], output_budget(experiment, opts),
                                (s["key_kind"], s["value_kind"]))
        self.tokenizer = self.text.tokenizer

    def _fresh(self, kind: str, rng: random.Random, used: set[str]) -> str:
        for _ in range(1000):
            value = draw(kind, rng)
            if value not in used and not self.text.corpus.contains(value):
                used.add(value)
                return value
        raise HaystackError(f"task.options: cannot draw distinct {kind} absent from the haystack")

    def build(self, trial: Trial) -> BuiltPrompt:
        s = self.s
        rng = random.Random(trial.seed)
        used: set[str] = set()
        keys = [self._fresh(s["key_kind"], rng, used) for _ in range(s["num_keys"])]
        values = [[self._fresh(s["value_kind"], rng, used) for _ in range(s["num_values"])]
                  for _ in keys]
        asked = sorted(rng.sample(range(len(keys)), s["num_queries"]))
        order = asked + [i for i in range(len(keys)) if i not in asked]
        n = len(keys) * s["num_values"]
        pool = [float(d) for d in DEPTHS if d != round(trial.requested_depth)]
        others = (rng.sample(pool, n - 1) if n - 1 <= len(pool)  # RULER's 40 depths
                  else [round(rng.uniform(0, 100), 4) for _ in range(n - 1)])
        depths = [trial.requested_depth, *others]
        kind = s["value_kind"]
        items = [Item(NEEDLE.format(kind=kind, key=keys[k], value=v), v, keys[k], 0.0,
                      distractor=k not in asked) for k in order for v in values[k]]
        items = [Item(i.text, i.answer, i.key, d, i.distractor)
                 for i, d in zip(items, depths, strict=True)]
        singular = s["num_queries"] * s["num_values"] == 1
        question = question_text(kind, [keys[k] for k in asked], s["num_values"],
                                 self.opts.answer_prefix)
        return self.text.place(trial, items, template_text(kind, singular), question)


def _task(task_name: str, **defaults: Any) -> type[RulerNiah]:
    return type(task_name.split("/")[1], (RulerNiah,),
                {"name": task_name, "defaults": defaults, "__doc__": RulerNiah.__doc__})


NiahSingle1 = _task("ruler/niah_single_1", haystack="noise")
NiahSingle2 = _task("ruler/niah_single_2")
NiahSingle3 = _task("ruler/niah_single_3", value_kind="uuids")
NiahMultikey1 = _task("ruler/niah_multikey_1", num_keys=4)
NiahMultikey2 = _task("ruler/niah_multikey_2", haystack="needle")
NiahMultikey3 = _task("ruler/niah_multikey_3", haystack="needle", key_kind="uuids",
                      value_kind="uuids")
NiahMultivalue = _task("ruler/niah_multivalue", num_values=4)
NiahMultiquery = _task("ruler/niah_multiquery", num_queries=4)
