from __future__ import annotations

import logging
from pathlib import Path

import pytest

from niah.backends.base import Completion, Message, Request, Usage
from niah.cache import DB_NAME, ResponseCache, default_cache_dir, request_key
from niah.config import ModelSpec
from niah.media.base import MediaPart

MODEL = ModelSpec(id="openai/gpt-4o-mini")
REQUEST = Request(
    messages=[Message(role="system", content="be brief"), Message(role="user", content="hi")],
    max_tokens=64, temperature=0.0, seed=0, prompt_tokens=12,
)


def test_key_is_stable_and_covers_everything_that_shapes_the_answer() -> None:
    key = request_key(MODEL, REQUEST)
    assert key == request_key(ModelSpec(id="openai/gpt-4o-mini"), REQUEST.model_copy())
    assert len(key) == 64
    changed = [
        request_key(ModelSpec(id="openai/gpt-4o"), REQUEST),
        request_key(MODEL.model_copy(update={"base_url": "http://127.0.0.1:1"}), REQUEST),
        request_key(MODEL.model_copy(update={"options": {"top_p": 0.5}}), REQUEST),
        request_key(MODEL, REQUEST.model_copy(update={"max_tokens": 65})),
        request_key(MODEL, REQUEST.model_copy(update={"temperature": 0.5})),
        request_key(MODEL, REQUEST.model_copy(update={"seed": 1})),
        request_key(MODEL, REQUEST.model_copy(
            update={"messages": [Message(role="user", content="hi")]})),
    ]
    assert len({key, *changed}) == len(changed) + 1
    # the locally measured size is not part of the request body
    assert request_key(MODEL, REQUEST.model_copy(update={"prompt_tokens": 99})) == key


def test_put_then_get_across_instances(tmp_path: Path) -> None:
    completion = Completion(
        text="42", usage=Usage(prompt_tokens=12, completion_tokens=1), finish_reason="stop",
        latency_s=0.5, provider_id="abc", raw={"timings": {"prompt_n": 12}},
    )
    with ResponseCache(tmp_path) as cache:
        assert cache.enabled
        assert cache.get("k") is None
        cache.put("k", MODEL.id, completion)
    with ResponseCache(tmp_path) as again:
        assert again.get("k") == completion
        assert again.hits == 1
    assert (tmp_path / DB_NAME).is_file()


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "responses"
    monkeypatch.delenv("NIAH_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "niah" / "responses"


def test_an_unusable_cache_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="niah"), ResponseCache(blocker / "sub") as cache:
        assert not cache.enabled
        cache.put("k", MODEL.id, Completion(text="x"))
        assert cache.get("k") is None
    assert "running without it" in caplog.text


def test_readonly_cache_creates_nothing(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "none", readonly=True) as cache:
        assert not cache.enabled
    assert not (tmp_path / "none").exists()
    with ResponseCache(tmp_path) as cache:
        cache.put("k", MODEL.id, Completion(text="x"))
    with ResponseCache(tmp_path, readonly=True) as cache:
        assert cache.get("k") == Completion(text="x")


def test_key_uses_the_prompt_digest_and_ignores_cache_marks() -> None:
    from niah.backends.base import CacheHint
    from niah.haystack.builder import prompt_digest

    digest = prompt_digest([m.model_dump() for m in REQUEST.messages])
    with_digest = REQUEST.model_copy(update={"prompt_sha256": digest})
    assert request_key(MODEL, with_digest) == request_key(MODEL, REQUEST)
    marked = with_digest.model_copy(update={"cache": CacheHint(cuts=(1,), marks=(1,), key="k")})
    assert request_key(MODEL, marked) == request_key(MODEL, REQUEST)
    # the canonical form, spelled out: a changed key would orphan every stored response
    import hashlib
    import json

    canonical = {"model": MODEL.id, "base_url": None, "options": {}, "prompt_sha256": digest,
                 "max_tokens": 64, "temperature": 0.0, "seed": 0}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request_key(MODEL, REQUEST) == hashlib.sha256(blob.encode()).hexdigest()


def test_entries_under_the_old_key_are_still_found_and_rekeyed(tmp_path: Path) -> None:
    import hashlib
    import json
    import sqlite3

    from niah.cache import KEYS_VERSION, legacy_request_key

    long_request = REQUEST.model_copy(update={"messages": [
        Message(role="system", content="be brief"),
        Message(role="user", content='a "long" prompt\n' * 50_000 + "é 😀")]})
    body = {"model": MODEL.id, "base_url": MODEL.base_url, "options": MODEL.options,
            "messages": [m.model_dump() for m in long_request.messages], "max_tokens": 64,
            "temperature": 0.0, "seed": 0}
    old = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False).encode()).hexdigest()
    assert legacy_request_key(MODEL, long_request) == old
    db = sqlite3.connect(tmp_path / DB_NAME)  # a file as older versions left it
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
               " completion TEXT NOT NULL, created TEXT NOT NULL)")
    db.execute("INSERT INTO responses VALUES (?, ?, ?, ?)",
               (old, MODEL.id, Completion(text="7").model_dump_json(), "2026-01-01"))
    db.commit()
    db.close()
    with ResponseCache(tmp_path) as cache:
        key, found = cache.lookup(MODEL, long_request)
        assert found is not None and found.text == "7"
        assert cache.get(key) is not None  # stored again under the new key
    with ResponseCache(tmp_path / "new") as cache:  # a new file: new keys only, no old lookups
        assert not cache.legacy
        assert cache._db is not None
        assert cache._db.execute("PRAGMA user_version").fetchone()[0] == KEYS_VERSION


def _part(sha: str, label: str | None = "[00:00:01]") -> MediaPart:
    return MediaPart(kind="image", path=f"/frames/{sha}.png", mime="image/png", sha256=sha * 64,
                     nbytes=10, start_s=1.0, label=label)


def test_media_requests_key_on_their_parts_with_or_without_a_prompt_digest() -> None:
    plain = request_key(MODEL, REQUEST)
    for digest in (None, "d" * 64):
        base = REQUEST.model_copy(update={"prompt_sha256": digest})
        with_media = base.model_copy(update={"media": (_part("a"), _part("b")), "media_at": 1})
        key = request_key(MODEL, with_media)
        assert key != request_key(MODEL, base)
        assert key == request_key(MODEL, with_media.model_copy())  # stable
        variants = [
            with_media.model_copy(update={"media": (_part("b"), _part("a"))}),  # order
            with_media.model_copy(update={"media": (_part("a"), _part("c"))}),  # content
            with_media.model_copy(update={"media": (_part("a"), _part("b", None))}),  # label
            with_media.model_copy(update={"media_at": 0}),  # where they go
        ]
        assert len({key, *(request_key(MODEL, v) for v in variants)}) == len(variants) + 1
        # the path is where a file lives, not what it holds
        moved = _part("a").__class__(**{**_part("a").__dict__, "path": "/elsewhere.png"})
        assert request_key(MODEL, with_media.model_copy(
            update={"media": (moved, _part("b"))})) == key
    assert request_key(MODEL, REQUEST) == plain  # requests without media keep their keys


def test_a_media_request_never_hits_an_old_text_only_key(tmp_path: Path) -> None:
    import sqlite3

    from niah.cache import legacy_request_key

    db = sqlite3.connect(tmp_path / DB_NAME)  # an old file with the text-only answer
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
               " completion TEXT NOT NULL, created TEXT NOT NULL)")
    db.execute("INSERT INTO responses VALUES (?, ?, ?, ?)",
               (legacy_request_key(MODEL, REQUEST), MODEL.id,
                Completion(text="7").model_dump_json(), "2026-01-01"))
    db.commit()
    db.close()
    with ResponseCache(tmp_path) as cache:
        media = REQUEST.model_copy(update={"media": (_part("a"),), "media_at": 0})
        assert cache.lookup(MODEL, media)[1] is None
        assert cache.lookup(MODEL, REQUEST)[1] is not None
