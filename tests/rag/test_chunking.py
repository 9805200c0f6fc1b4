"""Chunks are exact in the model's tokenizer, cover the context, overlap as configured
and never cut a sentence."""

from __future__ import annotations

import itertools
import random

import pytest

from niah.config import load_experiment
from niah.haystack.builder import PromptBuilder
from niah.plan import plan
from niah.rag.chunking import Chunker, render, split_sentences
from niah.tokenizers import load_tokenizer

TOKENIZER = load_tokenizer("tiktoken:cl100k_base")


def _contexts(n: int) -> list[str]:
    exp = load_experiment({
        "name": "chunks", "model": "scripted/perfect",
        "needles": [{"text": "The special magic number is {value}.",
                     "question": "What is the special magic number?"}],
        "grid": {"context_lengths": [600, 2000], "depth_percents": [0, 33, 100]},
    })
    builder = PromptBuilder(exp)
    return [builder.build(t).context for t in plan(exp)][:n]


@pytest.mark.parametrize("chunk_tokens,overlap", [(32, 0), (64, 16), (128, 100), (16, 8)])
def test_chunks_are_exact_cover_the_context_and_overlap_as_configured(
        chunk_tokens: int, overlap: int) -> None:
    chunker = Chunker(TOKENIZER, chunk_tokens, overlap)
    for context in _contexts(6):
        sentences, chunks = chunker.chunks(context)
        assert "".join(sentences) == context
        ends = {0}
        for s in sentences:
            ends.add(max(ends) + len(s))
        assert chunks[0].start == 0 and chunks[-1].end == len(context)
        sizes = [TOKENIZER.count(s) for s in sentences]
        for prev, c in itertools.pairwise(chunks):
            assert c.first > prev.first and c.first <= prev.last  # no gap, progress
            shared = sum(sizes[c.first:prev.last])
            assert shared <= overlap  # overlap never above the setting
            if c.first - 1 > prev.first:  # and the longest tail that fits it
                assert shared + sizes[c.first - 1] > overlap
        for c in chunks:
            text = context[c.start:c.end]
            assert TOKENIZER.count(text) == c.tokens  # exact, re-encoded
            assert c.start in ends and c.end in ends  # whole sentences only
            assert c.tokens <= chunk_tokens or c.last - c.first == 1
            if c.last < len(sentences):  # greedy: the next sentence would not have fit
                assert sum(sizes[c.first:c.last + 1]) > chunk_tokens or \
                    TOKENIZER.count(context[c.start:c.end + len(sentences[c.last])]) > chunk_tokens


def test_a_needle_is_one_sentence_and_never_cut() -> None:
    context = ("Rain fell. " * 30) + "The special magic number is 4417731. " + ("Sun rose. " * 30)
    sentences = split_sentences(context)
    assert " The special magic number is 4417731." in sentences
    _, chunks = Chunker(TOKENIZER, 20, 5).chunks(context)
    assert any("The special magic number is 4417731." in context[c.start:c.end] for c in chunks)


def test_a_sentence_longer_than_a_chunk_is_a_chunk_of_its_own() -> None:
    long = "Word " + " ".join(["word"] * 80) + "."
    context = f"Short one. {long} Short two."
    _, chunks = Chunker(TOKENIZER, 16).chunks(context)
    assert [context[c.start:c.end].strip()[:5] for c in chunks] == ["Short", "Word ", "Short"]
    assert chunks[1].tokens > 16


def test_render_keeps_document_order_and_merges_overlaps() -> None:
    rng = random.Random(3)
    context = " ".join(f"Sentence {i} is here." for i in range(60))
    sentences, chunks = Chunker(TOKENIZER, 20, 6).chunks(context)
    picked = rng.sample(chunks, 4)
    text = render(sentences, picked)
    numbers = [int(w) for w in text.replace(".", " ").split() if w.isdigit()]
    assert numbers == sorted(set(numbers))  # in order, no sentence twice


def test_overlap_must_be_below_the_chunk_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(TOKENIZER, 16, 16)
