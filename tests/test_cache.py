from __future__ import annotations

import logging
from pathlib import Path

import pytest

from niah.backends.base import Completion, Message, Request, Usage
from niah.cache import DB_NAME, ResponseCache, default_cache_dir, request_key
from niah.config import ModelSpec

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
