"""RULER's aggregation tasks: common words extraction (``cwe``: a numbered list where
``num_cw`` words appear ``freq_cw`` times and the rest ``freq_ucw`` times) and frequent
words extraction (``fwe``: coded words drawn from a Zipf law, find the top three).

The list grows by whole words until the next word would pass the length (RULER's
bisection), so a prompt ends within one word of it. The items scored are the answer
words, each recorded at its first occurrence.
"""

from __future__ import annotations

import random
import string
from typing import Any, ClassVar

from pydantic import Field

from niah.config import Experiment, ModelSpec
from niah.errors import ConfigError, HaystackError
from niah.plan import Trial
from niah.prompt import BuiltPrompt
from niah.tasks.ruler.common import (
    ItemPrompt,
    RulerGrading,
    RulerOptions,
    check_common,
    fit_count,
    output_budget,
    parse_options,
    words,
)
from niah.tokenizers import tokenizer_for

CWE_INSTRUCTION = ("Below is a numbered list of words. In these words, some appear more often "
                   "than others. Memorize the ones that appear most often.\n{context}\n")
CWE_QUESTION = "Question: What are the {n} most common words in the above list?"
CWE_PREFIX = " Answer: The top {n} words that appear most often in the list are:"
FWE_INSTRUCTION = ("Read the following coded text and track the frequency of each coded word. "
                   "Find the three most frequently appeared coded words. {context}\n")
FWE_QUESTION = ("Question: Do not provide any explanation. Please ignore the dots '....'. "
                "What are the three most frequently appeared words in the above coded text?")
FWE_PREFIX = (" Answer: According to the coded text above, the three most frequently appeared "
              "words are:")
SMALL = 4096
"""Below this length RULER's cwe uses smaller frequencies (6 and 1) and a smaller example."""


class CweOptions(RulerOptions):
    """Common words extraction (RULER's defaults)."""

    num_cw: int = Field(default=10, ge=1, le=100)
    """Common words, the answer."""
    freq_cw: int | None = Field(default=None, ge=2, le=1000)
    """Repeats of each common word; default 30 (6 below 4,096 tokens)."""
    freq_ucw: int | None = Field(default=None, ge=1, le=1000)
    """Repeats of each other word; default 3 (1 below 4,096 tokens)."""
    few_shot: bool = True
    """Open with one solved example list, as RULER."""
    answer_prefix: bool = True


def numbered(word_list: list[str]) -> tuple[str, list[int]]:
    """``1. a 2. b ...`` and each entry's character offset."""
    parts, offsets, at = [], [], 0
    for i, w in enumerate(word_list):
        part = f"{i + 1}. {w}"
        offsets.append(at)
        parts.append(part)
        at += len(part) + 1
    return " ".join(parts), offsets


def cwe_list(rng: random.Random, pool: list[str], n_words: int, n_common: int,
             freq_cw: int, freq_ucw: int) -> tuple[list[str], list[str]]:
    chosen = pool[:n_words]
    common, rare = chosen[:n_common], chosen[n_common:]
    word_list = common * freq_cw + rare * freq_ucw
    random.Random(rng.random()).shuffle(word_list)
    return word_list, common


class CommonWords(RulerGrading):
    """RULER's ``cwe``."""

    name: ClassVar[str] = "ruler/cwe"
    options_model: ClassVar[type[CweOptions]] = CweOptions

    def check(self, experiment: Experiment, options: Any) -> None:
        opts = parse_options(CweOptions, options)
        check_common(experiment, opts)
        if opts.freq_cw is not None and opts.freq_ucw is not None and opts.freq_ucw >= opts.freq_cw:
            raise ConfigError("task.options.freq_ucw", "must be below freq_cw")

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> CweBuilder:
        self.check(experiment, options)
        return CweBuilder(experiment, model, parse_options(CweOptions, options))


class CweBuilder:
    def __init__(self, experiment: Experiment, model: ModelSpec, opts: CweOptions) -> None:
        self.experiment = experiment
        self.opts = opts
        self.tokenizer = tokenizer_for(experiment, model)
        self.output = output_budget(experiment, opts)

    def build(self, trial: Trial) -> BuiltPrompt:
        o, exp = self.opts, self.experiment
        small = trial.context_length < SMALL
        freq_cw = o.freq_cw or (6 if small else 30)
        freq_ucw = o.freq_ucw or (1 if small else 3)
        rng = random.Random(trial.seed)
        pool = list(words())
        rng.shuffle(pool)
        shot = ""
        question = CWE_QUESTION.format(n=o.num_cw)
        prefix = CWE_PREFIX.format(n=o.num_cw) if o.answer_prefix else ""
        if o.few_shot:  # its words come from the end of the pool, the trial's from the start
            n_ex, f_cw, f_ucw = (20, 3, 1) if small else (40, 10, 3)
            ex_list, ex_common = cwe_list(rng, pool[-n_ex:], n_ex, min(o.num_cw, n_ex - 1),
                                          f_cw, f_ucw)
            ex_answer = " ".join(f"{i + 1}. {w}" for i, w in enumerate(ex_common))
            shot = (CWE_INSTRUCTION.replace("{context}", numbered(ex_list)[0]) + question
                    + CWE_PREFIX.format(n=o.num_cw) + " " + ex_answer + "\n")
            pool = pool[:-n_ex]
        template = shot + CWE_INSTRUCTION + "{question}"
        list_seed = rng.random()

        def prompt(n: int) -> tuple[ItemPrompt, list[str], list[str]]:
            word_list, common = cwe_list(random.Random(list_seed), pool, n, o.num_cw,
                                         freq_cw, freq_ucw)
            context = numbered(word_list)[0]
            ip = ItemPrompt(self.tokenizer, template, context, question + prefix)
            return ip, word_list, common

        def cost(n: int) -> int:
            return prompt(n)[0].tokens(exp.grid.length_includes_prompt)

        budget = trial.context_length - self.output
        n = fit_count(cost, budget, o.num_cw + 1, len(pool), "common words list",
                      trial.context_length)
        if n == len(pool) and cost(n) < budget:
            raise HaystackError(
                f"grid.context_lengths: {trial.context_length} tokens need more than the "
                f"{len(pool):,} distinct words shipped; raise task.options.freq_ucw")
        ip, word_list, common = prompt(n)
        offsets = numbered(word_list)[1]
        first = {w: offsets[i] for i, w in reversed(list(enumerate(word_list)))}
        items = [(w, w, None, first[w], False) for w in common]
        return ip.built(trial, items)


# -- fwe ------------------------------------------------------------------------------

class FweOptions(RulerOptions):
    """Frequent words extraction (RULER's defaults)."""

    alpha: float = Field(default=2.0, gt=1.0, le=10.0)
    """Zipf exponent: the k-th word appears about n k^-alpha / zeta(alpha) times."""
    coded_wordlen: int = Field(default=6, ge=3, le=20)
    vocab_size: int | None = Field(default=None, ge=10, le=1_000_000)
    """Coded words to draw from; default (length - answer tokens) / 50."""
    answer_prefix: bool = True


def zeta(a: float, n: int = 1000) -> float:
    """Riemann zeta for a > 1 (Euler-Maclaurin after ``n`` terms; error < 1e-12)."""
    head: float = sum(1.0 / k**a for k in range(1, n))
    tail: float = n ** (1 - a) / (a - 1) + 0.5 / n**a + a / (12 * n ** (a + 1))
    return head + tail


class FrequentWords(RulerGrading):
    """RULER's ``fwe``."""

    name: ClassVar[str] = "ruler/fwe"
    options_model: ClassVar[type[FweOptions]] = FweOptions

    def check(self, experiment: Experiment, options: Any) -> None:
        check_common(experiment, parse_options(FweOptions, options))

    def builder(self, experiment: Experiment, model: ModelSpec, options: Any) -> FweBuilder:
        self.check(experiment, options)
        return FweBuilder(experiment, model, parse_options(FweOptions, options))


class FweBuilder:
    def __init__(self, experiment: Experiment, model: ModelSpec, opts: FweOptions) -> None:
        self.experiment = experiment
        self.opts = opts
        self.tokenizer = tokenizer_for(experiment, model)
        self.output = output_budget(experiment, opts)

    def build(self, trial: Trial) -> BuiltPrompt:
        o, exp = self.opts, self.experiment
        rng = random.Random(trial.seed)
        budget = trial.context_length - self.output
        size = o.vocab_size or max(budget // 50, 10)
        vocab: set[str] = set()
        while len(vocab) < size:
            vocab.add("".join(rng.choices(string.ascii_lowercase, k=o.coded_wordlen)))
        ranked = sorted(vocab)
        rng.shuffle(ranked)
        ranked[0] = "..."  # the most frequent "word" is noise, as in RULER
        z = zeta(o.alpha)
        shuffle_seed = rng.random()
        question = FWE_QUESTION + (FWE_PREFIX if o.answer_prefix else "")
        template = FWE_INSTRUCTION + "{question}"

        def prompt(n: int) -> tuple[ItemPrompt, list[str]]:
            coded = [w for k, w in enumerate(ranked, 1) for _ in range(int(n * k ** -o.alpha / z))]
            random.Random(shuffle_seed).shuffle(coded)
            return ItemPrompt(self.tokenizer, template, " ".join(coded), question), coded

        # the fewest words where the 4th word is still more frequent than the 5th
        least = int(z / (4 ** -o.alpha - 5 ** -o.alpha)) + 1
        n = fit_count(lambda k: prompt(k)[0].tokens(exp.grid.length_includes_prompt), budget,
                      least, max(budget * 4, least), "coded text", trial.context_length)
        ip, coded = prompt(n)
        offsets: dict[str, int] = {}
        at = 0
        for w in coded:
            offsets.setdefault(w, at)
            at += len(w) + 1
        items = [(w, w, None, offsets.get(w, -1), False) for w in ranked[1:4]]
        return ip.built(trial, items)
