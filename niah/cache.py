"""The response cache: never pay twice for the same request.

Keyed by (model id, sha256 of the canonical request: messages, max_tokens,
temperature, seed, plus the model's base_url and options, which can change the
answer). Only successful completions are stored, so a re-run retries failures.
One sqlite file in ``$NIAH_CACHE_DIR/responses`` (default ``~/.cache/niah/responses``).
The cache is an optimisation: when it cannot be opened or written, the run goes
on without it and says so once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from niah.backends.base import Completion, Request
from niah.config import ModelSpec
from niah.haystack.corpus import cache_dir

log = logging.getLogger("niah")
DB_NAME = "responses.sqlite3"


def default_cache_dir() -> Path:
    """``responses`` under niah's cache root (``$NIAH_CACHE_DIR``, else ``~/.cache/niah``)."""
    return cache_dir() / "responses"


def request_key(model: ModelSpec, request: Request) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer."""
    body = {
        "model": model.id,
        "base_url": model.base_url,
        "options": model.options,
        "messages": [m.model_dump() for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A sqlite table of (key -> completion JSON)."""

    def __init__(self, directory: Path | None = None, *, readonly: bool = False) -> None:
        self.path = (directory or default_cache_dir()) / DB_NAME
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        if readonly:  # for --dry-run: look, never create or write
            if self.path.is_file():
                try:
                    self._db = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
                except sqlite3.Error:
                    self._db = None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " completion TEXT NOT NULL, created TEXT NOT NULL)"
            )
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            log.warning("response cache %s unavailable (%s); running without it", self.path, exc)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get(self, key: str) -> Completion | None:
        if self._db is None:
            return None
        try:
            found = self._db.execute(
                "SELECT completion FROM responses WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        if found is None:
            return None
        try:
            completion = Completion.model_validate_json(found[0])
        except ValidationError:
            return None  # written by an incompatible version: a miss, overwritten later
        self.hits += 1
        return completion

    def put(self, key: str, model: str, completion: Completion) -> None:
        if self._db is None:
            return
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                (key, model, completion.model_dump_json(), now),
            )
        except sqlite3.Error as exc:
            self._fail(exc)

    def _fail(self, exc: sqlite3.Error) -> None:
        log.warning("response cache %s failed (%s); going on without it", self.path, exc)
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
