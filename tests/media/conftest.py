"""Media tests run on the fake source and transcriber of ``tests.media.fakes``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from niah.backends import cascade
from niah.media import sources
from tests.media import fakes


@pytest.fixture(autouse=True)
def fake_media(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for kind in ("video", "audio"):
        monkeypatch.setitem(sources.OPENERS, kind, "tests.media.fakes:open_fake")
    for stage in ("ocr", "asr"):
        monkeypatch.setitem(cascade.TRANSCRIBERS, stage, "tests.media.fakes:make_fake_transcriber")
    monkeypatch.setitem(fakes.MAX_DURATION, "value", None)
    fakes.BUILT.clear()
    fakes.TRANSCRIBERS.clear()
    yield
