"""Fixtures of the haystack tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.haystack.tricky import TrickyBook, make_tricky_book


@pytest.fixture
def tricky_book(tmp_path: Path) -> TrickyBook:
    return make_tricky_book(tmp_path)
