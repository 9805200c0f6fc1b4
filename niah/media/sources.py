"""A config's video or audio haystack block -> its ``MediaSource``.

The sources live in ``niah.media.video`` and ``niah.media.audio`` (PyAV, Pillow and the
speech tools of the ``video``/``audio`` extras), imported only when a config asks for
one, so text experiments never load them. Each opener takes the block, the folder
relative paths resolve against, and a cache folder of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from niah.config import Experiment, MediaHaystackSpec
from niah.haystack.corpus import cache_dir
from niah.media.base import MediaSource, load_lazily

Opener = Callable[[MediaHaystackSpec, Path, Path], MediaSource]
OPENERS: dict[str, str] = {
    "video": "niah.media.video:open_video_source",
    "audio": "niah.media.audio:open_audio_source",
}
"""Where each medium's opener lives (tests point these at fakes)."""
EXTRA_PACKAGE = "av"
"""The package both extras need; named in the install hint."""


def media_cache_dir() -> Path:
    """``media`` under niah's cache root (``$NIAH_CACHE_DIR``, else ``~/.cache/niah``):
    decoded, synthesized and trial files, content-addressed, so a resumed run or a second
    model reuses them."""
    return cache_dir() / "media"


def opener(kind: str) -> Opener:
    """The opener of ``kind``; a missing extra says which ``pip install`` fixes it."""
    found: Opener = load_lazily(OPENERS[kind], kind, f"haystack.kind: {kind} haystacks are "
                                "not in this niah build", EXTRA_PACKAGE)
    return found


def open_media_source(spec: MediaHaystackSpec, experiment: Experiment,
                      cache: Path | None = None) -> MediaSource:
    """The source of ``spec``; an unreadable file is a ``HaystackError`` (exit 2)."""
    return opener(spec.kind)(spec, Path(experiment.base_dir), cache or media_cache_dir())
