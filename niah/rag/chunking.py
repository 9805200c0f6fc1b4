"""A context cut into chunks of whole sentences, counted in the answering model's tokenizer.

Sentences come from ``niah.haystack.sentences`` (the ends needles are placed at), each
with the spaces before it, so a needle is always one sentence of one chunk (or of
two neighbours when they overlap). A chunk takes sentences while their counts fit
``chunk_tokens``; the next one starts with the longest run of the previous chunk's last
sentences that fits ``overlap``. Each chunk's ``tokens`` is its own text re-encoded,
so recorded sizes are exact. Counts are cached by text: the trials of a sweep share
most sentences and chunks, so only the text around the needles is counted again.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from niah.haystack.sentences import sentence_ends
from niah.tokenizers import Tokenizer

CACHE_LIMIT = 500_000
"""Cached counts kept (sentences and chunks); the cache is cleared when it is full."""


@dataclass(frozen=True)
class Chunk:
    """Sentences ``[first, last)`` of a context, its characters ``[start, end)``."""

    index: int
    first: int
    last: int
    start: int
    end: int
    tokens: int
    """Tokens of ``text`` encoded alone."""


def split_sentences(context: str) -> list[str]:
    """The context as sentences, each with its leading spaces; joined they are the context."""
    data = context.encode("utf-8")
    ends, _ = sentence_ends(data)  # after the punctuation, before the spaces
    cuts = [0, *sorted({int(x) for x in ends if 0 < x < len(data)}), len(data)]
    out = [data[a:b].decode("utf-8") for a, b in itertools.pairwise(cuts)]
    return [s for s in out if s]


class Chunker:
    """Cuts contexts into chunks for one tokenizer and size, caching counts by text."""

    def __init__(self, tokenizer: Tokenizer, chunk_tokens: int, overlap: int = 0) -> None:
        if overlap >= chunk_tokens:
            raise ValueError("overlap must be smaller than chunk_tokens")
        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        return self._count_all([text])[0]

    def _count_all(self, texts: Sequence[str]) -> list[int]:
        counts = self._counts
        missing = list({t for t in texts if t not in counts})
        if missing:
            if len(counts) + len(missing) > CACHE_LIMIT:
                counts.clear()
            # one text at a time: tiktoken's encode_batch hands each (short) text to a
            # thread pool, which costs more than encoding it
            count = self.tokenizer.count
            counts.update((t, count(t)) for t in missing)
        return [counts[t] for t in texts]

    def chunks(self, context: str) -> tuple[list[str], list[Chunk]]:
        """The context's sentences and its chunks, in document order."""
        sentences = split_sentences(context)
        sizes = np.array(self._count_all(sentences), dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])
        out: list[Chunk] = []
        first, n = 0, len(sentences)
        while first < n:
            last = first + 1
            total = int(sizes[first])
            while last < n and total + sizes[last] <= self.chunk_tokens:
                total += int(sizes[last])
                last += 1
            while True:  # the counts of the parts may differ from the whole's: re-encode
                text = "".join(sentences[first:last])
                tokens = self.count(text)
                if tokens <= self.chunk_tokens or last - first == 1:
                    break
                last -= 1
            out.append(Chunk(len(out), first, last, int(offsets[first]), int(offsets[last]),
                             tokens))
            if last >= n:
                break
            first = self._next_first(sizes, first, last)
        return sentences, out

    def _next_first(self, sizes: np.ndarray, first: int, last: int) -> int:
        """The start of the next chunk: the longest tail of ``[first, last)`` whose
        sentences fit ``overlap`` (never the same start twice)."""
        start, kept = last, 0
        while start - 1 > first and kept + sizes[start - 1] <= self.overlap:
            start -= 1
            kept += int(sizes[start])
        return start


def render(sentences: Sequence[str], chunks: Sequence[Chunk], separator: str = "\n\n") -> str:
    """The chosen chunks in document order; overlapping or adjacent chunks are merged
    (no sentence twice), separate runs are joined by ``separator``."""
    runs: list[list[int]] = []
    for c in sorted(chunks, key=lambda c: c.first):
        if runs and c.first <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], c.last)
        else:
            runs.append([c.first, c.last])
    return separator.join("".join(sentences[a:b]).strip() for a, b in runs)
