"""Small corpora and configs for the NLL tests (the scripted source: no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray",
]


def text_of(words: int, seed: int = 0) -> str:
    """A deterministic text of about ``words`` words (one token each in cl100k)."""
    return " ".join(WORDS[(i * 7 + seed) % len(WORDS)] for i in range(words)) + "\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """``docs/`` with three texts of 300, 200 and 40 words."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(text_of(300, 1))
    (folder / "b.txt").write_text(text_of(200, 2))
    (folder / "c.md").write_text(text_of(40, 3))
    return folder


def nll_config(folder: Path, **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "nll-test",
        "model": {"id": "scripted/power", "options": {"noise": 0.0}},
        "corpora": [{"name": "prose", "kind": "files", "path": str(folder)}],
        "window": 64,
        "max_document_tokens": 200,
        "fit": {"bootstrap": 20},
    }
    data.update(top)
    return data
