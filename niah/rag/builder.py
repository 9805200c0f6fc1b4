"""A RAG twin's prompts: the full-context prompt, built as for the model itself, with
its context replaced by the top-k retrieved chunks in document order.

Retrieval sits here, in one class wrapping any ``Builder``, and not in a backend:
the chunks, their scores and whether each needle's chunk came back need the trial's
needles and its context, which only the builder holds, and the row records them
from ``BuiltPrompt.extra``. The wrapped builder builds the trial exactly as for the
full-context model (same tokenizer, same bytes, ``full_prompt_sha256`` on the row),
so the two compare cell by cell. BM25 is local and cannot fail. Dense retrieval
calls an embeddings endpoint: transient failures are retried here with the runner's
backoff (``run.max_retries``); a failure that remains becomes ``BuiltPrompt.error``,
which the runner stores as an error row (kind ``embeddings``) without asking the
model, so one bad request never stops the grid. Calls are synchronous, as builders
are (they may run in a forked child ahead of the event loop).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from niah.aio import backoff_delay
from niah.config import Experiment, ModelSpec
from niah.errors import ConfigError, ModelError, TransientModelError
from niah.haystack.digest import prompt_digest
from niah.plan import Trial
from niah.prompt import Builder, BuiltPrompt, KeepsLast
from niah.rag.chunking import Chunk, Chunker, render
from niah.rag.config import RagSpec, media_refusal
from niah.rag.retrievers import Retriever, make_retriever, top_k
from niah.results import ErrorInfo

MEDIA_KINDS = ("video", "audio")


def retry_sleep(seconds: float) -> None:
    """The one place retrieval retries wait; tests replace it to run without waiting."""
    time.sleep(seconds)


class RagBuilder(KeepsLast):
    """Builds a trial with ``inner``, then keeps only the chunks ``retriever`` ranks best."""

    def __init__(self, inner: Builder, spec: RagSpec, retriever: Retriever,
                 max_retries: int = 6, sleep: Callable[[float], None] | None = None) -> None:
        self.inner = inner
        self.tokenizer = inner.tokenizer
        self.spec = spec
        self.retriever = retriever
        self.chunker = Chunker(self.tokenizer, spec.chunk_tokens, spec.overlap)
        self.max_retries = max_retries
        self.sleep = sleep
        self._rng = random.Random(0)

    def _build(self, trial: Trial) -> BuiltPrompt:
        full = self.inner.build(trial)
        context = full.context
        sentences, chunks = self.chunker.chunks(context)
        texts = [context[c.start : c.end] for c in chunks]
        facts: dict[str, Any] = {
            "retriever": self.spec.retriever, "top_k": self.spec.top_k,
            "chunk_tokens": self.spec.chunk_tokens, "overlap": self.spec.overlap,
            "chunks": len(chunks), "full_prompt_tokens": full.prompt_tokens,
            "full_prompt_sha256": full.prompt_sha256,
        }
        started = time.perf_counter()
        try:
            scores, facts["attempts"] = self._scores(full.question, texts)
        except ModelError as exc:
            facts["attempts"] = getattr(exc, "attempts", 1)
            error = ErrorInfo(kind=exc.kind, message=str(exc), status=exc.status)
            return self._with_context(full, "", [], facts, error)
        facts["retrieval_s"] = round(time.perf_counter() - started, 6)
        best = top_k(scores, self.spec.top_k)
        chosen = [chunks[i] for i in best]
        facts["retrieved"] = best
        facts["scores"] = [round(float(scores[i]), 6) for i in best]
        facts["retrieved_tokens"] = [chunks[i].tokens for i in best]
        return self._with_context(full, render(sentences, chosen), chunks, facts, None)

    def _scores(self, question: str, texts: list[str]) -> tuple[Any, int]:
        """The retriever's scores, transient failures retried with full-jitter backoff."""

        attempt = 0
        while True:
            attempt += 1
            try:
                return self.retriever.scores(question, texts), attempt
            except TransientModelError as exc:
                if attempt > self.max_retries:
                    exc.attempts = attempt  # type: ignore[attr-defined]
                    raise
                (self.sleep or retry_sleep)(backoff_delay(attempt, exc.retry_after, self._rng))

    def _with_context(self, full: BuiltPrompt, context: str, chunks: list[Chunk],
                      facts: dict[str, Any], error: ErrorInfo | None) -> BuiltPrompt:
        """``full`` with ``context`` in place of its context, measured and hashed anew."""
        start, end = full.context_span
        user = full.messages[-1]["content"]
        messages = [*full.messages[:-1], {"role": "user",
                                          "content": user[:start] + context + user[end:]}]
        tokens = self.chunker.count(context) if context else 0
        asked = [n for n in full.needles if not n.distractor]
        full_context = full.context
        where = [full_context.find(n.text) for n in full.needles]
        facts["needle_chunks"] = [[c.index for c in chunks if c.start <= at < c.end]
                                  for at in where]
        hits = [bool(context) and n.text in context for n in full.needles]
        facts["needles_retrieved"] = hits
        found = [h for n, h in zip(full.needles, hits, strict=True) if not n.distractor]
        facts["retrieval_recall"] = (sum(found) / len(asked)) if asked and error is None else None
        return replace(
            full, context_span=(start, start + len(context)), context_tokens=tokens,
            messages=messages, prompt_tokens=full.prompt_tokens - full.context_tokens + tokens,
            prompt_sha256=prompt_digest(messages), cache_cuts=(),
            extra={**full.extra, "rag": facts}, error=error,
        )


def with_rag(experiment: Experiment, model: ModelSpec, builder: Builder) -> Builder:
    """``builder`` itself for a plain model; for a ``rag/`` twin, ``builder`` (which
    builds for the answering model) wrapped in a ``RagBuilder``. The one hook into
    prompt building: a task's builder is wrapped the same way."""
    if not model.is_rag:
        return builder
    check_rag(experiment, model)
    if experiment.media is not None:  # the cascade retrieves from its transcript
        return builder
    return RagBuilder(builder, model.rag_settings, make_retriever(model.rag_settings),
                      max_retries=experiment.run.max_retries)


def check_rag(experiment: Experiment, model: ModelSpec) -> None:
    """Refuse what a twin cannot do yet, before anything runs (one ``ConfigError``)."""
    kind = getattr(experiment.haystack, "kind", "")
    if kind in MEDIA_KINDS and model.inner.cascade_stage is None:
        raise ConfigError(f"model[{experiment.model.index(model)}].id",
                          media_refusal(model.id, kind))


def check_window(model: ModelSpec, window: int | None, overhead: int, max_tokens: int) -> int:
    """The twin's planned prompt size (top_k x chunk_tokens + template); refuse chunks
    that cannot fit the answering model's window."""
    spec = model.rag_settings
    size = spec.top_k * spec.chunk_tokens + overhead
    if window is not None and size + max_tokens > window:
        raise ConfigError(
            "model.rag.chunk_tokens",
            f"{model.id}: top_k {spec.top_k} x chunk_tokens {spec.chunk_tokens} + template "
            f"{overhead} + run.max_tokens {max_tokens} > the context window of {window}")
    return size
