"""RAG over a cascade's transcript: the ``rag/ocr+...`` and ``rag/asr+...`` twins.

A media trial has no text until the cascade transcribes it, so its twin retrieves there,
not in the prompt builder: the transcript's ``[hh:mm:ss] ...`` lines (speech recognition
writes no sentence ends) are packed whole into chunks of at most ``chunk_tokens`` in the
text model's tokenizer, the top ``k`` for the question are kept in document order, and
the text model reads only those. Whether the needle reached the reader is judged on the
row (``retrieval_recall``: its answer in the retrieved text), where the needle is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from niah.rag.config import RagSpec
from niah.rag.retrievers import Retriever, make_retriever, top_k
from niah.tokenizers import Tokenizer


def line_chunks(lines: Sequence[str], sizes: Sequence[int], chunk_tokens: int,
                overlap: int = 0) -> list[tuple[int, int]]:
    """Whole lines ``[first, last)`` packed into chunks of at most ``chunk_tokens`` (a
    longer line is a chunk of its own); the next chunk repeats the longest tail of whole
    lines that fits in ``overlap``."""
    out: list[tuple[int, int]] = []
    first = 0
    while first < len(lines):
        last, total = first, 0
        while last < len(lines) and (last == first or total + sizes[last] <= chunk_tokens):
            total += sizes[last]
            last += 1
        out.append((first, last))
        if last >= len(lines):
            break
        back, kept = last, 0
        while back - 1 > first and kept + sizes[back - 1] <= overlap:
            back -= 1
            kept += sizes[back]
        first = back
    return out


class TranscriptRetriever:
    """Chunks a transcript and keeps the top ``k`` chunks for a question."""

    def __init__(self, spec: RagSpec, tokenizer: Tokenizer,
                 retriever: Retriever | None = None) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.retriever = retriever or make_retriever(spec)

    def retrieve(self, transcript: str, question: str) -> tuple[str, dict[str, Any]]:
        """The retrieved text (chosen chunks in document order) and the facts of the row."""
        lines = transcript.splitlines(keepends=True)
        sizes = [self.tokenizer.count(line) for line in lines]
        spans = line_chunks(lines, sizes, self.spec.chunk_tokens, self.spec.overlap)
        texts = ["".join(lines[a:b]) for a, b in spans]
        scores = self.retriever.scores(question, texts) if texts else np.zeros(0)
        best = top_k(scores, self.spec.top_k)
        keep = sorted({i for a, b in (spans[j] for j in best) for i in range(a, b)})
        text = "".join(lines[i] for i in keep)
        return text, {
            "retriever": self.spec.retriever, "top_k": self.spec.top_k,
            "chunk_tokens": self.spec.chunk_tokens, "overlap": self.spec.overlap,
            "chunks": len(spans), "retrieved": best,
            "scores": [round(float(scores[i]), 6) for i in best],
            "retrieved_tokens": sum(sizes[i] for i in keep),
            "transcript_tokens": sum(sizes), "text": text,
        }


def recall_facts(facts: dict[str, Any], answers: Sequence[str]) -> dict[str, Any]:
    """A transcript twin's row facts: which needles' answers reached the reader (the
    retrieved text, kept as its length only)."""
    text = str(facts.get("text", "")).lower()
    found = [a.lower() in text for a in answers]
    out = {k: v for k, v in facts.items() if k != "text"}
    out["needles_retrieved"] = found
    out["retrieval_recall"] = sum(found) / len(found) if found else None
    return out
