"""Retrievers: a score per chunk for a question; ``top_k`` picks the best, ties to the
earlier chunk.

``BM25`` is bm25s over the chunks of one trial. Tokenizing the chunks is most of
its cost, so their word lists are cached by text: the trials of one length share
every chunk but those around the needles, and only those are tokenized again.
``Dense`` scores by cosine similarity of embeddings (``niah.rag.embeddings``);
``Hybrid`` fuses the two rankings by reciprocal rank.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from niah.errors import MissingDependency
from niah.rag.config import RagSpec
from niah.rag.embeddings import EmbeddingCache, EmbeddingsClient

WORDS_CACHE_LIMIT = 200_000


class Retriever(Protocol):
    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One score per text, higher is better."""
        ...


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` best scores, best first (ties: the earlier index)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each index (1 = best) under ``top_k``'s order."""
    out = np.empty(len(scores), dtype=np.int64)
    out[np.lexsort((np.arange(len(scores)), -scores))] = np.arange(1, len(scores) + 1)
    return out


class BM25:
    """bm25s (Lucene BM25, English stopwords), word lists cached by chunk text."""

    def __init__(self) -> None:
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - installed with the rag extra
            raise MissingDependency("bm25s", "rag") from exc
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index
        self._bm25s = bm25s
        self._words: dict[str, list[str]] = {}

    def words(self, texts: Sequence[str]) -> list[list[str]]:
        missing = list({t for t in texts if t not in self._words})
        if missing:
            if len(self._words) + len(missing) > WORDS_CACHE_LIMIT:
                self._words.clear()
            lists = self._bm25s.tokenize(missing, stopwords="en", return_ids=False,
                                         show_progress=False)
            self._words.update(zip(missing, lists, strict=True))
        return [self._words[t] for t in texts]

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        index = self._bm25s.BM25()
        index.index(self.words(texts), show_progress=False)
        query = self._bm25s.tokenize([question], stopwords="en", return_ids=False,
                                     show_progress=False)[0]
        return np.asarray(index.get_scores(query), dtype=np.float64)


class Dense:
    """Cosine similarity of the question's and the chunks' embeddings."""

    def __init__(self, client: EmbeddingsClient) -> None:
        self.client = client

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        vectors = self.client.embed([question, *texts])
        return np.asarray(vectors[1:] @ vectors[0], dtype=np.float64)


class Hybrid:
    """Reciprocal rank fusion: sum over retrievers of 1 / (k + rank)."""

    def __init__(self, parts: Sequence[Retriever], k: int = 60) -> None:
        self.parts = list(parts)
        self.k = k

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        total = np.zeros(len(texts), dtype=np.float64)
        for part in self.parts:
            total += 1.0 / (self.k + ranks(part.scores(question, texts)))
        return total


def make_retriever(spec: RagSpec, cache: EmbeddingCache | None = None) -> Retriever:
    """The retriever ``spec`` names (dense ones with their embeddings client)."""
    if spec.retriever == "bm25":
        return BM25()
    assert spec.embeddings is not None  # RagSpec requires it
    dense = Dense(EmbeddingsClient(spec.embeddings, cache if cache is not None
                                   else EmbeddingCache()))
    if spec.retriever == "dense":
        return dense
    return Hybrid([BM25(), dense], spec.rrf_k)
