"""The RAG builder: BM25 finds the needle's chunk, and rows tell retrieval misses apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from niah.config import Experiment, load_experiment
from niah.haystack.builder import PromptBuilder
from niah.plan import plan
from niah.rag.builder import RagBuilder, with_rag
from niah.rag.config import RagSpec
from niah.rag.retrievers import BM25


def _experiment(**grid: Any) -> Experiment:
    return load_experiment({
        "name": "rag", "model": ["scripted/perfect", "rag/scripted/perfect"],
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [1000, 3000], "depth_percents": [0, 50, 100], **grid},
    })


def test_bm25_ranks_the_needles_chunk_first_in_at_least_95_percent_of_200_trials() -> None:
    exp = _experiment(context_lengths=[1000, 2000, 4000, 8000],
                      depth_percents={"min": 0, "max": 100, "num": 10}, repeats=5)
    trials = plan(exp)
    assert len(trials) == 200
    builder = RagBuilder(PromptBuilder(exp, exp.model[0]), RagSpec(top_k=3, chunk_tokens=128),
                         BM25())
    first = 0
    for trial in trials:
        facts = builder.build(trial).extra["rag"]
        assert len(facts["needle_chunks"][0]) == 1  # the needle lies in one chunk
        first += facts["retrieved"][0] in facts["needle_chunks"][0]
    print(f"\nBM25 ranked the needle's chunk first in {first} of 200 trials")
    assert first >= 190


def test_the_twin_reads_the_full_context_trial_byte_for_byte() -> None:
    exp = _experiment()
    full, twin = PromptBuilder(exp, exp.model[0]), with_rag(exp, exp.model[1],
                                                           PromptBuilder(exp, exp.model[1].inner))
    for trial in plan(exp):
        a, b = full.build(trial), twin.build(trial)
        facts = b.extra["rag"]
        assert facts["full_prompt_sha256"] == a.prompt_sha256
        assert b.prompt_tokens == b.context_tokens + a.prompt_tokens - a.context_tokens
        assert b.context_tokens == twin.tokenizer.count(b.context)  # exact
        assert b.context in a.context or "\n\n" in b.context  # only text of the context
        assert b.needles == a.needles and b.question == a.question
        assert facts["retrieval_recall"] == 1.0 and facts["needles_retrieved"] == [True]


class _Fixed:
    """Scores chunks by a rule on their text (to force hits and misses)."""

    def __init__(self, likes: str) -> None:
        self.likes = likes

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return np.array([1.0 if self.likes in t else 0.0 for t in texts])


def test_retrieval_recall_is_recorded_for_hits_misses_and_halves() -> None:
    exp = load_experiment({
        "name": "rag2", "model": "scripted/perfect",
        "needles": [{"text": "The special magic number is {value}.", "count": 2,
                     "question": "What are the special magic numbers?"}],
        "grid": {"context_lengths": [2000], "depth_percents": [10]},
    })
    trial = plan(exp)[0]
    inner = PromptBuilder(exp)
    full = inner.build(trial)
    first, second = full.needles
    spec = RagSpec(top_k=1, chunk_tokens=64)
    miss = RagBuilder(inner, spec, _Fixed("no such text")).build(trial).extra["rag"]
    assert miss["retrieved"] == [0] and miss["needles_retrieved"] == [False, False]
    assert miss["retrieval_recall"] == 0.0
    half = RagBuilder(inner, spec, _Fixed(second.text)).build(trial)
    assert half.extra["rag"]["needles_retrieved"] == [False, True]
    assert half.extra["rag"]["retrieval_recall"] == 0.5
    assert second.text in half.context and first.text not in half.context
    both = RagBuilder(inner, RagSpec(top_k=2, chunk_tokens=64),
                      _Fixed("special magic")).build(trial).extra["rag"]
    assert both["retrieval_recall"] == 1.0
