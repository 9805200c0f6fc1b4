"""Plan and run an NLL measurement: documents -> token windows -> per-token NLL on disk.

``plan_nll`` does every check that can fail on bad input (config, refused providers,
documents, tokenizers, windows) before anything is written; ``run_nll`` probes the
sources (a server's alignment), then scores each document not yet stored, window by
window, through the NLL cache, and stores it. One document's failure is recorded as
its row's error and the run goes on; running again retries it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from niah._version import __version__
from niah.config import ModelSpec
from niah.errors import ConfigError, ModelError, TransientModelError
from niah.nll.cache import NllCache, window_key
from niah.nll.config import NllConfig
from niah.nll.documents import Document, load_documents
from niah.nll.results import DocumentRow, ErrorInfo
from niah.nll.source import LogprobSource, source_class
from niah.nll.store import NllStore, resolve_run_dir, utc_now
from niah.tokenizers import Tokenizer, load_tokenizer, warnings_said

PREFIX_MARGIN = 256
"""Tokens past the last one kept when only a text's start is tokenized."""


@dataclass
class PlannedDocument:
    corpus: str
    index: int
    name: str
    sha256: str
    ids: np.ndarray
    """The tokens scored: the document's first ``max_document_tokens``."""
    document_tokens: int | None
    """Tokens of the whole document; None when only its start was tokenized."""


@dataclass
class PlannedModel:
    spec: ModelSpec
    source: LogprobSource
    tokenizer: Tokenizer
    tokenizer_name: str
    window: int
    max_tokens: int
    documents: list[PlannedDocument] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    """Per corpus, documents left out for having fewer than ``min_tokens``."""
    check: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(len(d.ids) for d in self.documents)

    def describe(self) -> dict[str, Any]:
        used: dict[str, int] = {}
        for doc in self.documents:
            used[doc.corpus] = used.get(doc.corpus, 0) + 1
        return {**self.source.describe(), "tokenizer": self.tokenizer_name,
                "window": self.window, "max_document_tokens": self.max_tokens,
                "documents": used, "skipped": self.skipped, "check": self.check}


@dataclass
class NllPlan:
    config: NllConfig
    models: list[PlannedModel]
    corpora: list[dict[str, Any]]

    def close(self) -> None:
        """Release every source (a loaded model, an HTTP client)."""
        for model in self.models:
            model.source.close()


@dataclass
class NllRun:
    run_dir: Path
    rows: list[DocumentRow]
    """Rows written by this session."""
    failures: list[DocumentRow]


def windows(n: int, window: int) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, end)`` spans of at most ``window`` tokens."""
    return [(start, min(start + window, n)) for start in range(0, n, window)]


def _tokenizer(config: NllConfig, cls: type[LogprobSource], spec: ModelSpec) -> str:
    if config.tokenizer != "auto":
        return config.tokenizer
    name = cls.auto_tokenizer(spec)
    if name is None:
        raise ConfigError("tokenizer", f"auto cannot know the tokenizer of {spec.id}, and "
                          "positions are counted in it: set tokenizer: hf:PATH/tokenizer.json "
                          "or llamacpp:PATH.gguf")
    return name


def plan_nll(config: NllConfig) -> NllPlan:
    """Everything a run needs, checked; raises a one-line ``UserError`` on bad input."""
    sources: list[tuple[ModelSpec, LogprobSource, str]] = []
    for i, spec in enumerate(config.model):
        where = f"model[{i}]" if len(config.model) > 1 else "model"
        source_class(spec, where)  # refused providers fail here, before any file is read
    try:
        return _plan(config, sources)
    except BaseException:
        for _, source, _ in sources:
            source.close()
        raise


def _plan(config: NllConfig, sources: list[tuple[ModelSpec, LogprobSource, str]]) -> NllPlan:
    for i, spec in enumerate(config.model):
        where = f"model[{i}]" if len(config.model) > 1 else "model"
        cls = source_class(spec, where)
        sources.append((spec, cls(spec, where), _tokenizer(config, cls, spec)))
    docs = {c.name: load_documents(c, config, f"corpora[{i}]")
            for i, c in enumerate(config.corpora)}
    corpora = [{"name": c.name, "kind": c.kind, "documents_found": len(docs[c.name])}
               for c in config.corpora]
    token_cache: dict[tuple[str, str, str], tuple[np.ndarray, int | None]] = {}
    models = []
    for spec, source, tok_name in sources:
        limit = source.context_window()
        if limit is not None:
            limit -= source.reserved
        window = config.window or limit
        if window is None:
            raise ConfigError("window", f"the context window of {spec.id} is unknown: set "
                              "window (or model.context_window)")
        if limit is not None and window > limit:
            extra = f" less {source.reserved} generated" if source.reserved else ""
            raise ConfigError("window", f"{window:,} tokens exceed the context window of "
                              f"{spec.id} ({limit:,}{extra})")
        tokenizer = load_tokenizer(tok_name, config.base_dir)
        planned = PlannedModel(spec, source, tokenizer, tok_name, window,
                               config.max_document_tokens or window)
        for j, corpus in enumerate(config.corpora):
            used = 0
            for doc in docs[corpus.name]:
                if corpus.max_documents is not None and used >= corpus.max_documents:
                    break
                need = max(planned.max_tokens, corpus.min_tokens)
                ids, whole = _tokens(token_cache, tok_name, tokenizer, doc, need)
                if len(ids) == 0:
                    raise ConfigError(f"corpora[{j}]", f"document {doc.name} has no tokens")
                if len(ids) < corpus.min_tokens:
                    planned.skipped[corpus.name] = planned.skipped.get(corpus.name, 0) + 1
                    continue
                planned.documents.append(PlannedDocument(
                    corpus.name, used, doc.name, doc.sha256, ids[:planned.max_tokens], whole
                ))
                used += 1
            if not used:
                raise ConfigError(f"corpora[{j}]", f"no document of {corpus.name} has "
                                  f"min_tokens ({corpus.min_tokens}) in {tok_name}")
        models.append(planned)
    return NllPlan(config, models, corpora)


def _tokens(cache: dict[tuple[str, str, str], tuple[np.ndarray, int | None]], tok_name: str,
            tokenizer: Tokenizer, doc: Document, need: int) -> tuple[np.ndarray, int | None]:
    """The document's first tokens (all, or ``need`` of them) and its whole count if known.

    Only a prefix of a long text is tokenized: one ``PREFIX_MARGIN`` tokens longer than
    needed, so the cut (which can change the tokens next to it) is far from the last
    token kept. A 1 MB source tree scored for 8K tokens costs 8K tokens of work.
    """
    key = (tok_name, doc.corpus, doc.name)
    found = cache.get(key)
    if found is not None and (found[1] is not None or len(found[0]) >= need):
        return found
    chars = max(need * 8, 4096)
    while True:
        if chars >= len(doc.text):
            ids = np.asarray(tokenizer.encode(doc.text), dtype=np.int64)
            cache[key] = (ids, len(ids))
            return cache[key]
        ids = np.asarray(tokenizer.encode(doc.text[:chars]), dtype=np.int64)
        if len(ids) >= need + PREFIX_MARGIN:
            cache[key] = (ids[:need], None)
            return cache[key]
        chars *= 2


def check_sources(plan: NllPlan) -> None:
    """Ask each source whether its values can be trusted (a server's alignment probe)."""
    for model in plan.models:
        model.check = model.source.check(model.tokenizer)


def with_retries(fn: Callable[[], np.ndarray], retries: int,
                 sleep: Callable[[float], None]) -> np.ndarray:
    """``fn()``, retried after transient failures with exponential backoff."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except TransientModelError as exc:
            if attempt == retries:
                raise
            sleep(exc.retry_after if exc.retry_after is not None else min(2.0 ** attempt, 60))
    raise AssertionError("unreachable")


def score_document(model: PlannedModel, ids: np.ndarray, cache: NllCache,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[np.ndarray, bool]:
    """NLL of every token of ``ids`` in windows, and whether all came from the cache."""
    out = np.full(len(ids), np.nan, dtype=np.float32)
    identity = model.source.identity()
    all_cached = True
    for start, end in windows(len(ids), model.window):
        if end - start < 2:
            continue  # a lone last token has no context inside its window
        span = ids[start:end]
        key = window_key(identity, span.tolist())
        nll = cache.get(key, end - start)
        if nll is None:
            all_cached = False
            nll = with_retries(partial(model.source.score, span.tolist()),
                               model.source.max_retries, sleep)
            cache.put(key, nll)
        out[start:end] = nll
    return out, all_cached


def run_nll(
    config: NllConfig, out: str | Path | None = None, *, fresh: bool = False,
    cache: bool = True, plan: NllPlan | None = None,
    on_document: Callable[[DocumentRow, int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> NllRun:
    """Score every planned document not yet stored in the run directory."""
    plan = plan or plan_nll(config)
    try:
        return _run(plan, out, fresh, NllCache(enabled=cache), on_document, sleep)
    finally:
        plan.close()


def _run(plan: NllPlan, out: str | Path | None, fresh: bool, nll_cache: NllCache,
         on_document: Callable[[DocumentRow, int, int], None] | None,
         sleep: Callable[[float], None]) -> NllRun:
    config = plan.config
    check_sources(plan)  # a refused server stops the run before anything is written
    run_dir = resolve_run_dir(config, out, fresh)
    result = NllRun(run_dir, [], [])
    with NllStore.open(run_dir, config, [m.describe() for m in plan.models], plan.corpora,
                       warnings_said(), fresh=fresh) as store:
        total = sum(len(m.documents) for m in plan.models)
        done = sum(1 for m in plan.models for d in m.documents
                   if (m.spec.id, d.corpus, d.name, d.sha256) in store.done)
        for model in plan.models:
            todo = [d for d in model.documents
                    if (model.spec.id, d.corpus, d.name, d.sha256) not in store.done]
            if todo:
                model.source.prepare(model.window)
            for doc in todo:
                row, nll = _score_one(model, doc, nll_cache, sleep)
                row = store.add(row, nll, doc.ids if nll is not None else None)
                done += 1
                result.rows.append(row)
                if row.error is not None:
                    result.failures.append(row)
                if on_document is not None:
                    on_document(row, done, total)
            model.source.close()  # free a model before loading the next
    return result


def _score_one(model: PlannedModel, doc: PlannedDocument, cache: NllCache,
               sleep: Callable[[float], None]) -> tuple[DocumentRow, np.ndarray | None]:
    base: dict[str, Any] = {
        "model": model.spec.id, "corpus": doc.corpus, "index": doc.index,
        "document": doc.name, "sha256": doc.sha256, "document_tokens": doc.document_tokens,
        "tokens": len(doc.ids), "window": model.window,
        "windows": len(windows(len(doc.ids), model.window)), "niah_version": __version__,
    }
    start = time.perf_counter()
    try:
        nll, cached = score_document(model, doc.ids, cache, sleep)
    except ModelError as exc:
        error = ErrorInfo(kind=exc.kind, message=" ".join(str(exc).split()))
        return DocumentRow(**base, error=error, timestamp=utc_now()), None
    scored = int(np.count_nonzero(~np.isnan(nll)))
    mean = float(np.nanmean(nll)) if scored else None
    row = DocumentRow(**base, scored=scored, mean_nll=mean, cached=cached,
                      seconds=round(time.perf_counter() - start, 4), timestamp=utc_now())
    return row, nll
