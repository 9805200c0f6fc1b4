"""The ``rag:`` block of a ``rag/<model id>`` entry. Apart from ``niah.config`` so the
retrievers import their settings without the experiment (and the reverse)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PREFIX = "rag/"
"""Model ids starting with this are RAG twins of the model named by the rest."""


class EmbeddingsSpec(BaseModel):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, llama.cpp server
    with ``--embedding``, Ollama) for ``dense`` and ``hybrid`` retrieval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(pattern=r"^https?://")
    """The endpoint's base URL, ``/embeddings`` is appended (``http://127.0.0.1:8080/v1``)."""
    model: str = Field(default="default", min_length=1)
    """The embedding model name sent as ``model``."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Environment variable holding the key (never the key itself)."""
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    """Expected vector size: a reply of another size is an error (None: any, but one)."""
    batch_size: int = Field(default=64, ge=1, le=2048)
    """Texts per request."""
    timeout_s: float = Field(default=120.0, gt=0)


class RagSpec(BaseModel):
    """How a RAG twin chunks and retrieves (defaults: BM25, 4 chunks of 256 tokens)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(default=4, ge=1, le=1000)
    """Chunks put in the prompt, in document order."""
    chunk_tokens: int = Field(default=256, ge=8, le=1_000_000)
    """Most tokens of a chunk in the answering model's tokenizer (a single sentence
    longer than this is a chunk of its own: chunks never cut a sentence)."""
    overlap: int = Field(default=0, ge=0)
    """Tokens of whole sentences that a chunk repeats from the end of the one before."""
    retriever: Literal["bm25", "dense", "hybrid"] = "bm25"
    """``bm25`` (offline, bm25s), ``dense`` (``embeddings``), ``hybrid`` (both, fused by
    reciprocal rank)."""
    embeddings: EmbeddingsSpec | None = None
    """The embeddings endpoint, required by ``dense`` and ``hybrid``."""
    rrf_k: int = Field(default=60, ge=1, le=10_000)
    """Reciprocal rank fusion constant: score = sum of 1 / (rrf_k + rank)."""

    @model_validator(mode="after")
    def _consistent(self) -> RagSpec:
        if self.overlap >= self.chunk_tokens:
            raise ValueError("overlap must be smaller than chunk_tokens")
        if self.retriever != "bm25" and self.embeddings is None:
            raise ValueError(f"retriever {self.retriever} needs embeddings: {{base_url: ...}}")
        return self


def media_refusal(model_id: str, kind: str) -> str:
    """Why a ``rag/`` twin of a model that is no cascade cannot take a media haystack."""
    stage = "ocr" if kind == "video" else "asr"
    return (f"{model_id}: RAG over a {kind} haystack retrieves from a cascade's transcript: "
            f"use rag/{stage}+<text model id>")
