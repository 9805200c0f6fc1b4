"""Fixtures of the media tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.media.clips import COLOURS


@pytest.fixture
def frames_folder(tmp_path: Path) -> Path:
    """Eight PNG frames, ``f0.png``..``f7.png``, of ``COLOURS[0..7]``."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(8):
        Image.new("RGB", (96, 64), COLOURS[k]).save(folder / f"f{k}.png")
    return folder
