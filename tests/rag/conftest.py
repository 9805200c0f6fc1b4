"""Fixtures of the RAG tests: retrieval retries never wait."""

from __future__ import annotations

import pytest


@pytest.fixture
def retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retrieval backoff waits, recorded instead of slept."""
    from niah.rag import builder

    waited: list[float] = []
    monkeypatch.setattr(builder, "retry_sleep", waited.append)
    return waited
