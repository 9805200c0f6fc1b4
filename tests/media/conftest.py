"""Fixtures of the media tests: a fake source and transcriber for the plumbing tests
(``fake_media``, used by the modules that say so) and frame folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from niah.backends import cascade
from niah.media import sources
from tests.media import fakes
from tests.media.clips import COLOURS


@pytest.fixture
def fake_media(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Video and audio haystacks built by ``tests.media.fakes``, cascades transcribed by
    its fake transcriber."""
    for kind in ("video", "audio"):
        monkeypatch.setitem(sources.OPENERS, kind, "tests.media.fakes:open_fake")
    for stage in ("ocr", "asr"):
        monkeypatch.setitem(cascade.TRANSCRIBERS, stage, "tests.media.fakes:make_fake_transcriber")
    monkeypatch.setitem(fakes.MAX_DURATION, "value", None)
    fakes.BUILT.clear()
    fakes.TRANSCRIBERS.clear()
    yield


@pytest.fixture
def frames_folder(tmp_path: Path) -> Path:
    """Eight PNG frames, ``f0.png``..``f7.png``, of ``COLOURS[0..7]``."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(8):
        Image.new("RGB", (96, 64), COLOURS[k]).save(folder / f"f{k}.png")
    return folder
