"""The generated prose: deterministic, varied, digit-free, and safe to join as paragraphs."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from niah.haystack import prose
from niah.tokenizers import load_tokenizer

SENTENCE_END = re.compile(r'(?<=[.!?])\s+|(?<=[.!?]")\s+')


def first_tokens(seed: int, tokens: int) -> list[str]:
    """Paragraphs from the start of a stream until they hold ``tokens`` cl100k tokens."""
    tokenizer = load_tokenizer("tiktoken:cl100k_base")
    out: list[str] = []
    counted = 0
    for paragraph in prose.paragraphs(seed):
        out.append(paragraph)
        if len(out) % 100 == 0:
            counted += tokenizer.count("\n\n".join(out[-100:]))
            if counted >= tokens:
                return out
    raise AssertionError("unreachable: the stream is endless")


@pytest.fixture(scope="module")
def hundred_k() -> list[str]:
    return first_tokens(0, 100_000)


def test_same_seed_same_text() -> None:
    a = list(itertools.islice(prose.paragraphs(7), 200))
    b = list(itertools.islice(prose.paragraphs(7), 200))
    assert a == b


def test_different_seeds_differ() -> None:
    starts = [tuple(itertools.islice(prose.paragraphs(seed), 3)) for seed in range(20)]
    assert len(set(starts)) == 20
    firsts = [s[0] for s in starts]
    assert len(set(firsts)) == 20


def test_no_sentence_repeats_within_100k_tokens(hundred_k: list[str]) -> None:
    for paragraphs in (hundred_k, first_tokens(12345, 100_000)):
        sentences = [s for p in paragraphs for s in SENTENCE_END.split(p)]
        assert len(sentences) > 4000
        repeated = [s for s, n in Counter(sentences).items() if n > 1]
        assert repeated == []


def test_sentences_are_well_formed(hundred_k: list[str]) -> None:
    for paragraph in hundred_k[:500]:
        for sentence in SENTENCE_END.split(paragraph):
            assert sentence[0].isupper() or sentence[0] == '"', sentence
            assert sentence.endswith((".", "!", "?", '."')), sentence


def test_no_digits(hundred_k: list[str]) -> None:
    text = "\n\n".join(hundred_k)
    assert not re.search(r"\d", text)
    assert not any(ch.isdigit() for ch in text)  # no Unicode digits either


def test_paragraphs_join_cleanly(hundred_k: list[str]) -> None:
    for paragraph in hundred_k:
        assert paragraph and not paragraph[0].isspace() and not paragraph[-1].isspace()
        assert "\n" not in paragraph and "  " not in paragraph
    lengths = Counter(len(SENTENCE_END.split(p)) for p in hundred_k)
    assert set(lengths) <= set(range(3, 9)) and len(lengths) >= 4  # 3..8 sentences, varied


def test_vocabulary_is_varied(hundred_k: list[str]) -> None:
    words = Counter(re.findall(r"[a-z']+", " ".join(hundred_k).lower()))
    assert len(words) > 300
    # no single word dominates the text (beyond the usual function words)
    common = {"the", "a", "and", "of", "to", "was", "by", "it", "in", "with", "as"}
    top = max(n for w, n in words.items() if w not in common)
    assert top / sum(words.values()) < 0.03
