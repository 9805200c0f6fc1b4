"""Fixed cache cuts: the last word start at or before each block, wherever the table grows."""

from __future__ import annotations

import random

import pytest

from niah.config import HaystackSpec
from niah.haystack.corpus import Corpus, load_corpus
from niah.haystack.cuts import CutTable
from niah.haystack.sources import open_source
from niah.prompt import CACHE_BLOCK_TOKENS
from niah.tokenizers import load_tokenizer

MULTIBYTE = "Le café № 一二 était fermé 🙂🎉. Ñandú — «Ça va?» dit-elle. 東京は晴れ。"


def _word_start(corpus: Corpus, token: int) -> bool:
    """One space then a non-space (" 一" may be two tokens, the space one pre-token's start)."""
    at = int(corpus.offsets[token])
    return corpus.data[at : at + 1] == b" " and not corpus.data[at + 1 : at + 2].isspace()


def _expected(corpus: Corpus, stable: int, offset: int) -> tuple[tuple[int, int], ...]:
    """Token by token: the last word start at or before k blocks, if past the last cut."""
    out: list[tuple[int, int]] = []
    last = 0
    for k in range(1, stable // CACHE_BLOCK_TOKENS + 1):
        token = next(
            (t for t in range(k * CACHE_BLOCK_TOKENS, last, -1) if _word_start(corpus, t)), 0
        )
        if last < token <= stable:
            out.append((k, offset + len(corpus.text(0, token))))
            last = token
    return tuple(out)


@pytest.mark.parametrize(
    "spec",
    [HaystackSpec(kind="generated", seed=5), HaystackSpec(kind="noise", filler=MULTIBYTE)],
    ids=["prose", "multibyte"],
)
def test_cuts_equal_a_token_by_token_scan_as_the_table_grows(spec: HaystackSpec) -> None:
    corpus = load_corpus(open_source(spec), load_tokenizer("tiktoken:cl100k_base"), 20_000)
    table = CutTable(corpus)
    rnd = random.Random(7)
    rising = sorted(rnd.randrange(corpus.n_tokens) for _ in range(6))
    for stable in [*rising, *(rnd.randrange(corpus.n_tokens) for _ in range(6))]:
        offset = rnd.randrange(100)
        assert table.cuts(stable, offset) == _expected(corpus, stable, offset), stable
