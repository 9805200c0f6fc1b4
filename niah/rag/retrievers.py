"""Retrievers: a score per chunk for a question; ``top_k`` picks the best, ties to the
earlier chunk.

``BM25`` scores as bm25s does over the chunks of one trial, without building its
index. bm25s cannot update an index (every precomputed entry depends on the corpus's
size, mean length and document frequencies, which any changed chunk moves), and a
rebuild costs ~300x the query. But a query needs only the counts of its own words:
each chunk's word counts and length are cached by text (the trials of one length
share every chunk but those around the needles, and only those are tokenized again),
and the scores come from bm25s's own idf and tf formulas, in its dtypes and order,
so they equal a fresh ``bm25s.BM25`` index's ``get_scores`` bit for bit (tested).
``Dense`` scores by cosine similarity of embeddings (``niah.rag.embeddings``);
``Hybrid`` fuses the two rankings by reciprocal rank.
"""

from __future__ import annotations

import logging
from collections import Counter
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
    """bm25s's Lucene BM25 (English stopwords) from word counts cached by chunk text."""

    def __init__(self) -> None:
        try:
            import bm25s
            from bm25s import scoring
        except ImportError as exc:  # pragma: no cover - installed with the rag extra
            raise MissingDependency("bm25s", "rag") from exc
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index
        self._bm25s = bm25s
        self._model = bm25s.BM25()  # only its parameters: k1, b, method, dtype
        self._idf = scoring._select_idf_scorer(self._model.idf_method)
        self._tfc = scoring._select_tfc_scorer(self._model.method)
        self._counts: dict[str, tuple[dict[str, int], int]] = {}

    def words(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's words as bm25s tokenizes them."""
        out: list[list[str]] = self._bm25s.tokenize(list(texts), stopwords="en",
                                                    return_ids=False, show_progress=False)
        return out

    def counts(self, texts: Sequence[str]) -> list[tuple[dict[str, int], int]]:
        """Each text's word counts and length in words, cached by text."""
        cache = self._counts
        missing = list({t for t in texts if t not in cache})
        if missing:
            if len(cache) + len(missing) > WORDS_CACHE_LIMIT:
                cache.clear()
            for text, words in zip(missing, self.words(missing), strict=True):
                cache[text] = (dict(Counter(words)), len(words))
        return [cache[t] for t in texts]

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """What ``bm25s.BM25().index(words(texts))`` then ``get_scores`` returns."""
        m = self._model
        dtype = np.dtype(m.dtype)
        out = np.zeros(len(texts), dtype=dtype)
        stats = self.counts(texts)
        lengths = np.array([n for _, n in stats])
        if not stats or not lengths.any():
            return out.astype(np.float64)
        avg = lengths.mean()
        for word in self.words([question])[0]:  # repeated words count again, as in bm25s
            tf = np.array([c.get(word, 0) for c, _ in stats], dtype=dtype)
            df = int(np.count_nonzero(tf))
            if df == 0:  # not in the corpus's vocabulary: bm25s drops it
                continue
            idf = np.array(self._idf(df, N=len(texts)), dtype=dtype)
            tfc = self._tfc(tf_array=tf, l_d=lengths, l_avg=avg, k1=m.k1, b=m.b,
                            delta=m.delta)
            out += (idf * tfc).astype(dtype)
        return out.astype(np.float64)


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
