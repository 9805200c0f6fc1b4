"""RULER's variable tracking: chains ``VAR A = 12345``, ``VAR B = VAR A``, ... hidden in
a haystack; the model names every variable that holds the queried value.

Chains, variable names and values are drawn per trial. The first chain's first
assignment goes at the trial's depth and its hops at random depths after it, in
order; other chains anywhere. A one-shot example (3-letter names, a noise context of
about 500 tokens, its answer) opens the prompt, as in RULER.
"""

from __future__ import annotations

import itertools
import random
import string
from typing import Any, ClassVar, Literal

from pydantic import Field

from niah.config import Experiment, ModelSpec
from niah.haystack.sources import NOISE_FILLER
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.tasks.ruler.common import (
    RulerGrading,
    RulerOptions,
    check_common,
    fit_count,
    output_budget,
    parse_options,
)
from niah.tasks.ruler.text import Item, TextBuilder
from niah.tokenizers import Tokenizer

INSTRUCTION = ("Memorize and track the chain(s) of variable assignment hidden in the "
               "following text.\n\n{context}\n{question}")
QUESTION = "Question: Find all variables that are assigned the value {value} in the text above."
ANSWER_PREFIX = (" Answer: According to the chain(s) of variable assignment in the text above, "
                 "{n} variables are assigned the value {value}, they are: ")
EXAMPLE_TOKENS = 500
"""RULER's one-shot example fits in 500 tokens (its prompt, without its answer)."""


class VtOptions(RulerOptions):
    """Variable tracking settings (RULER's defaults)."""

    num_chains: int = Field(default=1, ge=1, le=50)
    num_hops: int = Field(default=4, ge=1, le=50)
    haystack: Literal["noise", "essay"] = "noise"
    """``noise``: RULER's filler; ``essay``: the config's ``haystack``."""
    few_shot: bool = True
    """Open with RULER's one-shot example."""
    answer_prefix: bool = True


def chains(rng: random.Random, n_chains: int, hops: int, letters: int,
           taken: Any = None) -> tuple[list[list[str]], list[str]]:
    """Variable names (distinct, absent from ``taken``) and a 5-digit value per chain."""
    names: list[str] = []
    while len(names) < n_chains * (hops + 1):
        name = "".join(rng.choices(string.ascii_uppercase, k=letters))
        if name not in names and not (taken is not None and taken.contains(name)):
            names.append(name)
    values: list[str] = []
    while len(values) < n_chains:
        value = str(rng.randint(10000, 99999))
        if value not in values:
            values.append(value)
    return [names[i * (hops + 1):(i + 1) * (hops + 1)] for i in range(n_chains)], values


def statements(names: list[str], value: str) -> list[str]:
    return [f"VAR {names[0]} = {value}"] + [
        f"VAR {b} = VAR {a} " for a, b in itertools.pairwise(names)]


def example(tokenizer: Tokenizer, rng: random.Random, n_chains: int, hops: int) -> str:
    """RULER's one-shot example: noise lines with the chains' lines among them, the
    question with its answer prefix, and the answer."""
    hops = min(10, hops)
    names, values = chains(rng, n_chains, hops, 3)
    seed = rng.random()

    def text(n_noise: int) -> str:
        spot_rng = random.Random(seed)  # the same spots for every count tried
        lines = [NOISE_FILLER] * n_noise
        for chain_names, value in zip(names, values, strict=True):
            chain = statements(chain_names, value)
            spots = sorted(spot_rng.sample(range(len(lines)), len(chain)))
            for j, (at, line) in enumerate(zip(spots, chain, strict=True)):
                lines.insert(at + j, line)
        prompt = INSTRUCTION.replace("{context}", "\n".join(lines)).replace(
            "{question}", QUESTION.format(value=values[0])
            + ANSWER_PREFIX.format(n=hops + 1, value=values[0]))
        return prompt

    n = fit_count(lambda k: tokenizer.count(text(k)), EXAMPLE_TOKENS, hops + 1, 200,
                  "variable tracking example", EXAMPLE_TOKENS)
    return text(n) + " " + " ".join(names[0]) + "\n"


class VariableTracking(RulerGrading):
    """RULER's ``vt``."""

    name: ClassVar[str] = "ruler/vt"
    options_model: ClassVar[type[VtOptions]] = VtOptions

    def check(self, experiment: Experiment, options: Any) -> None:
        check_common(experiment, parse_options(VtOptions, options))

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> VtBuilder:
        opts = parse_options(VtOptions, options)
        self.check(experiment, opts)
        return VtBuilder(experiment, model, opts)


class VtBuilder:
    def __init__(self, experiment: Experiment, model: ModelSpec, opts: VtOptions) -> None:
        self.opts = opts
        self.text = TextBuilder(experiment, model, opts.haystack, output_budget(experiment, opts))
        self.tokenizer = self.text.tokenizer

    def build(self, trial: Trial) -> BuiltPrompt:
        o = self.opts
        rng = random.Random(trial.seed)
        names, values = chains(rng, o.num_chains, o.num_hops, 5, self.text.corpus)
        d = trial.requested_depth
        items: list[Item] = []
        for c, (chain_names, value) in enumerate(zip(names, values, strict=True)):
            lo = d if c == 0 else 0.0
            depths = [d] if c == 0 else [rng.uniform(0, 100)]
            depths += sorted(rng.uniform(lo, 100) for _ in chain_names[1:])
            depths = sorted(depths) if c else depths
            for name, line, depth in zip(chain_names, statements(chain_names, value), depths,
                                         strict=True):
                items.append(Item(line.strip() + ".", name, value, round(depth, 4), c > 0))
        shot = example(self.tokenizer, rng, o.num_chains, o.num_hops) + "\n" if o.few_shot else ""
        question = QUESTION.format(value=values[0]) + (
            ANSWER_PREFIX.format(n=o.num_hops + 1, value=values[0]) if o.answer_prefix else "")
        return self.text.place(trial, items, shot + INSTRUCTION, question)
