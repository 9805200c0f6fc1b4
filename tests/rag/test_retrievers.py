"""BM25 without an index per trial scores exactly as a fresh bm25s index does."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from niah.config import load_experiment
from niah.haystack.builder import PromptBuilder
from niah.plan import plan
from niah.rag import retrievers
from niah.rag.chunking import Chunker
from niah.rag.retrievers import BM25, top_k

QUESTIONS = [
    "What is the special magic number?",
    "What is the special magic number? Number, number, NUMBER!",  # repeated words
    "Which quokka zeppelin?",  # words in no chunk
    "What did the baker hide in the old mill before the rain?",
]


def _bm25s_scores(question: str, texts: list[str]) -> np.ndarray:
    """bm25s called directly: a fresh index over the texts, then ``get_scores``."""
    words = bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)
    index = bm25s.BM25()
    index.index(words, show_progress=False)
    query = bm25s.tokenize([question], stopwords="en", return_ids=False,
                           show_progress=False)[0]
    return np.asarray(index.get_scores(query), dtype=np.float64)


def _trials_texts(chunk_tokens: int) -> list[list[str]]:
    exp = load_experiment({
        "name": "bm25", "model": "scripted/perfect",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [3000, 12000], "depth_percents": [0, 25, 50, 75, 100]},
    })
    builder = PromptBuilder(exp)
    chunker = Chunker(builder.tokenizer, chunk_tokens)
    out = []
    for trial in plan(exp):
        context = builder.build(trial).context
        out.append([context[c.start:c.end] for c in chunker.chunks(context)[1]])
    return out


@pytest.mark.parametrize("chunk_tokens", [64, 256])
def test_scores_and_top_k_equal_a_fresh_bm25s_index_across_the_depths_of_a_length(
        chunk_tokens: int) -> None:
    bm25 = BM25()  # one instance for the sweep: its caches carry over between trials
    for texts in _trials_texts(chunk_tokens):
        for question in QUESTIONS:
            ours, theirs = bm25.scores(question, texts), _bm25s_scores(question, texts)
            assert np.array_equal(ours, theirs)  # bit for bit, not merely close
            assert top_k(ours, 4) == top_k(theirs, 4)
            if "magic" in question:
                assert ours.max() > 0


def test_empty_chunks_stopword_questions_and_a_full_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrievers, "WORDS_CACHE_LIMIT", 3)
    texts = ["The cat sat on the mat.", "It is what it is.", "A dog chased the cat.",
             "Cats and dogs.", "The the the."]
    bm25 = BM25()
    for _ in range(2):  # the second pass clears the cache on the way
        for question in ["Where did the cat sit?", "Who chased the cat?"]:
            assert np.array_equal(bm25.scores(question, texts), _bm25s_scores(question, texts))
    assert bm25.scores("Is it the?", texts).tolist() == [0.0] * 5  # only stopwords
    assert len(bm25._counts) <= 5
