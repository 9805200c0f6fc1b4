"""The response cache: never pay twice for the same request.

Keyed by (model id, sha256 of the canonical request: the prompt's sha256 (the
builder's digest of the messages, so a 10M-token prompt is never serialised again),
max_tokens, temperature, seed, plus the model's base_url and options, which can
change the answer; and a media request's parts by kind, MIME type, sha256 and label, plus
where they go). Prompt-cache marks do not change the answer and are left out.
Only successful completions are stored, so a re-run retries failures.
Files written before niah 0.x keyed requests by their whole messages; such a file
is still read: on a miss the old key is computed too (streamed, in slices), and a hit
is stored again under the new key. A file created now is marked as new-keyed only.
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
from typing import Any

from pydantic import ValidationError

from niah.backends.base import Completion, Request
from niah.config import ModelSpec
from niah.haystack.corpus import cache_dir
from niah.haystack.digest import prompt_digest

log = logging.getLogger("niah")
DB_NAME = "responses.sqlite3"
KEYS_VERSION = 2
"""``PRAGMA user_version`` of a file whose keys all use the prompt's sha256."""
_CHUNK = 1 << 18


def default_cache_dir() -> Path:
    """``responses`` under niah's cache root (``$NIAH_CACHE_DIR``, else ``~/.cache/niah``)."""
    return cache_dir() / "responses"


def request_key(model: ModelSpec, request: Request) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer, the prompt
    by its sha256 (``Request.prompt_sha256``, else computed here the same way)."""
    digest = request.prompt_sha256 or prompt_digest(
        [{"role": m.role, "content": m.content} for m in request.messages]
    )
    body: dict[str, Any] = {
        "model": model.id,
        "base_url": model.base_url,
        "options": model.options,
        "prompt_sha256": digest,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    if request.media:  # by content, also when the builder's digest already covers them
        body["media"] = [[p.kind, p.mime, p.sha256, p.label] for p in request.media]
        body["media_at"] = request.media_at
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def legacy_request_key(model: ModelSpec, request: Request) -> str:
    """The key older versions used: sha256 of the same JSON with the whole messages in
    place of their digest. Hashed as it is serialised, a slice at a time."""
    marker = "\x00niah-messages\x00"
    body = {
        "model": model.id,
        "base_url": model.base_url,
        "options": model.options,
        "messages": marker,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    before, _, after = blob.partition(json.dumps(marker, ensure_ascii=False))
    h = hashlib.sha256(before.encode("utf-8"))
    h.update(b"[")
    for i, m in enumerate(request.messages):  # {"content":...,"role":...}, keys sorted
        h.update(b',{"content":"' if i else b'{"content":"')
        text = m.content
        for j in range(0, len(text), _CHUNK):
            h.update(json.encoder.encode_basestring(text[j : j + _CHUNK])[1:-1].encode())
        h.update(b'","role":' + json.dumps(m.role).encode() + b"}")
    h.update(b"]")
    h.update(after.encode("utf-8"))
    return h.hexdigest()


class ResponseCache:
    """A sqlite table of (key -> completion JSON)."""

    def __init__(self, directory: Path | None = None, *, readonly: bool = False) -> None:
        self.path = (directory or default_cache_dir()) / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._legacy: bool | None = None
        self.readonly = readonly
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
            fresh = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='responses'"
            ).fetchone() is None
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " completion TEXT NOT NULL, created TEXT NOT NULL)"
            )
            if fresh:
                db.execute(f"PRAGMA user_version={KEYS_VERSION}")
            self._db = db
        except (OSError, sqlite3.Error) as exc:
            log.warning("response cache %s unavailable (%s); running without it", self.path, exc)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    @property
    def legacy(self) -> bool:
        """The file may hold entries under old keys (whole messages)."""
        if self._legacy is None:
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0] if self._db else 0
            except sqlite3.Error:
                version = 0
            self._legacy = self._db is not None and version < KEYS_VERSION
        return self._legacy

    def lookup(self, model: ModelSpec, request: Request) -> tuple[str, Completion | None]:
        """(key, stored completion or None); an entry under the old key is found too
        and stored again under the new one."""
        key = request_key(model, request)
        found = self.get(key)
        if found is None and self.legacy and not request.media:  # old keys had no media
            found = self.get(legacy_request_key(model, request))
            if found is not None and not self.readonly:
                self.put(key, model.id, found)
        return key, found

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
