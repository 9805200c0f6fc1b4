"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, cached on disk.

Vectors are cached by (endpoint model, sha256 of the text) in one sqlite file under
niah's cache root, so a sweep embeds each distinct chunk once, and a second run of
the same sweep sends nothing but what is new. Failures are ``ModelError``s: 429, 5xx,
timeouts and dropped connections are ``TransientModelError`` (retried by the caller
with backoff); 4xx, a malformed reply and vectors of the wrong size are permanent.
Calls are synchronous: retrieval runs inside a prompt builder (``niah.rag.builder``),
which may be a forked child process, where an event loop is not available.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from niah.errors import ModelError, PermanentModelError, TransientModelError
from niah.haystack.corpus import cache_dir
from niah.rag.config import EmbeddingsSpec

DB_NAME = "embeddings.sqlite"


def default_cache_dir() -> Path:
    return cache_dir() / "embeddings"


class EmbeddingCache:
    """Vectors by (model, text hash), float32, in one sqlite file."""

    def __init__(self, directory: Path | None = None) -> None:
        path = (directory or default_cache_dir()) / DB_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors "
                         "(model TEXT, sha TEXT, vec BLOB, PRIMARY KEY (model, sha))")
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, model: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(shas), 500):
                part = list(shas[i : i + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT sha, vec FROM vectors WHERE model=? AND sha IN ({marks})",
                    [model, *part]).fetchall()
                out.update((sha, np.frombuffer(vec, dtype=np.float32)) for sha, vec in rows)
        return out

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model, sha, v.astype(np.float32).tobytes()) for sha, v in items.items()])

    def close(self) -> None:
        self._db.close()


class EmbeddingsClient:
    """``embed(texts)`` -> one unit-length row per text, from the cache or the endpoint."""

    def __init__(self, spec: EmbeddingsSpec, cache: EmbeddingCache | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self.cache = cache
        headers = {}
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(base_url=spec.base_url.rstrip("/") + "/", headers=headers,
                                  timeout=spec.timeout_s, transport=transport)
        self.requests = 0
        """Requests sent (the cache is proven by this staying 0 on a second run)."""
        self.dimensions: int | None = spec.dimensions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        shas = [EmbeddingCache.key(t) for t in texts]
        found = self.cache.get(self.spec.model, shas) if self.cache is not None else {}
        missing = list(dict.fromkeys(s for s in shas if s not in found))
        text_of = dict(zip(shas, texts, strict=True))
        size = self.spec.batch_size
        for i in range(0, len(missing), size):
            part = missing[i : i + size]
            vectors = self._request([text_of[s] for s in part])
            new = dict(zip(part, vectors, strict=True))
            if self.cache is not None:
                self.cache.put(self.spec.model, new)
            found.update(new)
        rows = [found[s] for s in shas]
        self._check_size(rows)
        return np.vstack(rows) if rows else np.zeros((0, self.dimensions or 1), np.float32)

    def _check_size(self, rows: Sequence[np.ndarray]) -> None:
        for row in rows:
            if self.dimensions is None:
                self.dimensions = len(row)
            if len(row) != self.dimensions:
                raise PermanentModelError(
                    f"embeddings: a vector of {len(row)} dimensions, expected "
                    f"{self.dimensions} (rag.embeddings.dimensions)", kind="embeddings")

    def _request(self, texts: list[str]) -> list[np.ndarray]:
        self.requests += 1
        try:
            reply = self._http.post("embeddings", json={"model": self.spec.model, "input": texts})
        except httpx.TimeoutException as exc:
            raise TransientModelError(f"embeddings: timed out: {exc}", kind="embeddings") from exc
        except httpx.TransportError as exc:
            raise TransientModelError(f"embeddings: cannot reach {self.spec.base_url}: "
                                      f"{type(exc).__name__}", kind="embeddings") from exc
        if reply.status_code == 429 or reply.status_code >= 500:
            raise TransientModelError(f"embeddings: HTTP {reply.status_code}", kind="embeddings",
                                      status=reply.status_code)
        if reply.status_code >= 400:
            raise PermanentModelError(f"embeddings: HTTP {reply.status_code}: "
                                      f"{reply.text[:200]}", kind="embeddings",
                                      status=reply.status_code)
        return _vectors(reply, len(texts))

    def close(self) -> None:
        self._http.close()


def _pooled(vector: np.ndarray) -> np.ndarray:
    """One vector per text: a server without pooling (llama-cpp-python's for a causal
    model such as SmolLM2) sends one vector per token, which is mean-pooled here."""
    return vector.mean(axis=0) if vector.ndim == 2 and len(vector) else vector


def _vectors(reply: httpx.Response, n: int) -> list[np.ndarray]:
    """Unit vectors from an OpenAI-format reply, in input order (by ``index``)."""
    try:
        data = reply.json()["data"]
        items = sorted(data, key=lambda d: d.get("index", 0))
        rows = [_pooled(np.asarray(d["embedding"], dtype=np.float32)) for d in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"embeddings: malformed reply ({type(exc).__name__})",
                         kind="embeddings") from exc
    if len(rows) != n:
        raise ModelError(f"embeddings: {len(rows)} vectors for {n} texts", kind="embeddings")
    if any(r.ndim != 1 or not len(r) for r in rows):
        raise ModelError("embeddings: a reply item is not one vector", kind="embeddings")
    out = []
    for r in rows:
        norm = float(np.linalg.norm(r))
        out.append(r / norm if norm > 0 else r)
    return out
