"""Known context windows: the table behind ``niah plan``'s length check."""

from __future__ import annotations

import pytest

from niah.backends.registry import context_window
from niah.backends.windows import claude_version, known_window
from niah.config import ModelSpec

WINDOWS = [
    # OpenAI: the gpt-5 family lists its input cap (272K of the 400K window)
    ("openai/gpt-4o-mini", 128_000), ("openai/gpt-4o-2024-08-06", 128_000),
    ("openai/chatgpt-4o-latest", 128_000), ("openai/gpt-4.1-nano", 1_047_576),
    ("openai/gpt-4-turbo", 128_000), ("openai/gpt-3.5-turbo", 16_385),
    ("openai/o1", 200_000), ("openai/o1-mini", 128_000), ("openai/o3", 200_000),
    ("openai/o4-mini-2025-04-16", 200_000), ("openai/gpt-5", 272_000),
    ("openai/gpt-5-mini-2025-08-07", 272_000), ("openai/gpt-5.2", 272_000),
    ("openai/gpt-5-chat-latest", 128_000), ("openai/gpt-5.4", None),
    ("openai/ft:gpt-4o:acme", None),
    # Anthropic: 200K up to the 4.5 models, 1M for Opus and Sonnet from 4.6
    ("anthropic/claude-3-haiku-20240307", 200_000),
    ("anthropic/claude-3-5-sonnet-20241022", 200_000),
    ("anthropic/claude-3-7-sonnet-latest", 200_000),
    ("anthropic/claude-sonnet-4-20250514", 200_000),
    ("anthropic/claude-opus-4-1-20250805", 200_000), ("anthropic/claude-sonnet-4-5", 200_000),
    ("anthropic/claude-haiku-4-5-20251001", 200_000),
    ("anthropic/claude-opus-4-5-20251101", 200_000), ("anthropic/claude-opus-4-6", 1_000_000),
    ("anthropic/claude-sonnet-4-6", 1_000_000), ("anthropic/claude-opus-4-7", 1_000_000),
    ("anthropic/claude-sonnet-5", 1_000_000), ("anthropic/claude-opus-5-5", 1_000_000),
    ("anthropic/claude-fable-5-1", 1_000_000), ("anthropic/claude-haiku-5", None),
    ("anthropic/claude-instant-1.2", None),
    # Gemini: the input token limit
    ("gemini/gemini-1.5-pro", 2_097_152), ("gemini/gemini-1.5-flash-002", 1_048_576),
    ("gemini/models/gemini-2.0-flash", 1_048_576), ("gemini/gemini-2.0-flash-lite-001", 1_048_576),
    ("gemini/gemini-2.5-pro", 1_048_576), ("gemini/gemini-2.5-flash-preview-09-2025", 1_048_576),
    ("gemini/gemini-2.5-flash-lite", 1_048_576), ("gemini/gemini-3-pro-preview", 1_048_576),
    ("gemini/gemini-3.1-pro-preview", 1_048_576), ("gemini/gemini-2.5-flash-image", None),
    ("gemini/gemma-3-27b-it", None),
    # any model at all: only the config knows
    ("openai-compatible/gpt-4o-mini", None),
]


@pytest.mark.parametrize(("model_id", "window"), WINDOWS)
def test_known_windows(model_id: str, window: int | None) -> None:
    spec = ModelSpec(id=model_id)
    assert context_window(spec) == window
    assert context_window(spec.model_copy(update={"context_window": 5000})) == 5000


def test_names_are_matched_whole_and_case_blind() -> None:
    assert known_window("openai", "GPT-4o-mini") == 128_000
    assert known_window("openai", "gpt-4o-mini-tts") is None  # not a prefix match
    assert known_window("gemini", "gemini-2.5-pro") == 1_048_576
    assert known_window("nosuch", "gpt-4o") is None


@pytest.mark.parametrize(
    ("name", "version"),
    [("claude-3-5-sonnet-20241022", ("sonnet", 3, 5)), ("claude-3-haiku-20240307", ("haiku", 3, 0)),
     ("claude-opus-4-1", ("opus", 4, 1)), ("claude-sonnet-4-20250514", ("sonnet", 4, 0)),
     ("claude-haiku-4-5-20251001", ("haiku", 4, 5)), ("claude-opus-5-5", ("opus", 5, 5)),
     ("claude-3-7-sonnet-latest", ("sonnet", 3, 7)), ("claude-2.1", None), ("gpt-4o", None)],
)
def test_claude_version(name: str, version: tuple[str, int, int] | None) -> None:
    assert claude_version(name) == version
