"""The seam between media sources, the prompt builder and the backends that send media.

A media source (``niah.media.video``, ``niah.media.audio``) turns one trial (a duration,
a depth, a needle) into files on disk plus the needle's exact position; the builder
wraps them in a ``MediaPrompt``; backends read ``MediaPart.path`` when they send, so a
long video or a day of audio is streamed from disk and never held twice in memory.
Cascades (``ocr+``/``asr+`` model ids) turn the same parts into a transcript through a
``Transcriber`` and ask a text model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Literal, Protocol

from niah.errors import MissingDependency, UserError

MediaKind = Literal["image", "video", "audio"]
HaystackMedia = Literal["video", "audio"]


@dataclass(frozen=True)
class MediaPart:
    """One file sent to a model: a frame, a video clip or an audio clip."""

    kind: MediaKind
    path: str
    """Absolute path of the file (written by the source under its media cache folder)."""
    mime: str
    """``image/jpeg``, ``image/png``, ``video/mp4``, ``audio/wav``, ``audio/mpeg``..."""
    sha256: str
    nbytes: int
    start_s: float
    """Where the part starts on the trial's timeline, in seconds."""
    duration_s: float = 0.0
    """Length of a video or audio part; 0 for an image (a frame)."""
    label: str | None = None
    """Text sent just before the part when timestamps are on (``[00:12:04]``)."""
    width: int | None = None
    """Pixels of an image or video part, when the source knows (token estimates)."""
    height: int | None = None


@dataclass(frozen=True)
class MediaNeedle:
    """Where the needle is in a trial's media."""

    text: str
    """The needle sentence drawn on the frame or spoken."""
    answer: str
    time_s: float
    """Start of the needle on the trial's timeline, in seconds."""
    index: int
    """Frame index (video, at the sampled fps) or sample index (audio)."""
    actual_depth: float
    """``time_s / duration_s * 100`` (video: frame index / frames x 100)."""
    duration_s: float
    """How long the needle lasts: one frame (1/fps) or the spoken clip."""


@dataclass(frozen=True)
class MediaTrial:
    """One trial's media, built by a ``MediaSource``."""

    parts: tuple[MediaPart, ...]
    needle: MediaNeedle
    duration_s: float
    transcript: str | None = None
    """The haystack's own text (captions, the synthesized script) with the needle, for
    checks and audits; never sent to a model."""


@dataclass(frozen=True)
class MediaSummary:
    """What one trial's media amounts to, known without building it: ``plan`` estimates
    tokens and cost from this (``Backend.media_tokens``)."""

    haystack: HaystackMedia
    form: str
    """How the model takes it (``Backend.media_form``): ``video``, ``frames``, ``wav``..."""
    seconds: float
    frames: int = 0
    """Sampled frames (video), 0 for audio."""
    width: int = 0
    height: int = 0

    @classmethod
    def of(cls, haystack: HaystackMedia, form: str, parts: Sequence[MediaPart],
           seconds: float, fps: float = 0.0, size: tuple[int, int] = (0, 0)) -> MediaSummary:
        """The summary of built ``parts`` (frames counted, or ``seconds x fps`` for one
        video part); ``size`` where the parts do not say theirs."""
        images = [p for p in parts if p.kind == "image"]
        frames = len(images) if images else round(seconds * fps)
        first = images[0] if images else next(iter(parts), None)
        width = (first.width if first is not None and first.width else 0) or size[0]
        height = (first.height if first is not None and first.height else 0) or size[1]
        return cls(haystack, form, seconds, frames if haystack == "video" else 0, width, height)


class MediaSource(Protocol):
    """A video or audio haystack (built from a config's ``haystack`` block)."""

    kind: HaystackMedia

    def max_duration_s(self) -> float | None:
        """The longest trial this source can give (None: generated, any length)."""
        ...

    def text_sample(self) -> str:
        """The haystack's own text (captions, script), lower-cased: a needle value must
        not occur in it. Empty for media with no known text."""
        ...

    def build(
        self, duration_s: float, depth: float, needle_text: str, answer: str, seed: int,
        form: str, out_dir: Path, depths: Sequence[float] | None = None,
    ) -> MediaTrial:
        """Write one trial's media under ``out_dir`` (content-addressed file names, so a
        rebuilt trial reuses its files) and say where the needle is.

        ``depths`` (the grid's) bound the bins of ``placement: random_in_bin``.
        ``form`` is how the model takes the media: video ``"video"`` (one mp4) or
        ``"frames"`` (one JPEG per sampled frame); audio ``"wav"`` or ``"mp3"``.
        """
        ...


class Transcriber(Protocol):
    """Media to text for cascades: OCR of frames, speech recognition of audio."""

    async def transcribe(self, parts: Sequence[MediaPart]) -> str:
        """A timestamped transcript (``[00:12:04] text`` lines) of ``parts``; caches each
        distinct frame or clip by content hash so a sweep reads it once."""
        ...


def depth_bin(depth: float, depths: Sequence[float] | None) -> tuple[float, float]:
    """The bin of ``depth`` (percent): edges halfway between the grid's sorted depths, the
    first bin from 0, the last to 100. Without the grid: the tenth of 0-100 holding it."""
    if depths:
        grid = sorted(set(depths) | {depth})
        i = grid.index(depth)
        lo = 0.0 if i == 0 else (grid[i - 1] + depth) / 2
        hi = 100.0 if i == len(grid) - 1 else (depth + grid[i + 1]) / 2
        return lo, hi
    lo = min(90.0, math.floor(depth / 10) * 10.0)
    return lo, lo + 10.0


def load_lazily(target: str, extra: str, missing: str, package: str | None = None) -> Any:
    """``module:attr`` imported when first used, so text experiments never load the
    media extras. A missing niah module is a ``UserError`` (``missing``, "... are not in
    this niah build"); any other missing package is the ``extra``'s install hint, naming
    ``package`` (else the module that was missing)."""
    module_name, _, attr = target.partition(":")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "niah":
            raise UserError(f"{missing} ({module_name} is missing)") from None
        raise MissingDependency(package or exc.name or module_name, extra) from None
    return getattr(module, attr)
