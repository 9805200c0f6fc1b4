"""Config blocks of the media haystacks (``haystack: {kind: video | audio, ...}``).

Kept apart from ``niah.config`` so the media sources import their settings without the
whole experiment; ``niah.config.Experiment.haystack`` takes either block by ``kind``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _MediaHaystack(_Strict):
    path: str | None = None
    """A media file or folder (relative to the config file); omitted: generated offline."""
    seed: int = 0
    """Seed of the generated media (text drawn, file order)."""
    text: str | None = None
    """Folder of .txt/.md files whose sentences the generated media shows or speaks;
    omitted: niah's generated prose."""
    placement: Literal["exact", "random_in_bin"] = "exact"
    """``exact``: the needle at the depth's second; ``random_in_bin``: at a random second
    inside the depth's bin (the Gemini 1.5 report's convention)."""
    too_short: Literal["refuse", "loop"] = "refuse"
    """A grid duration longer than the media: refuse at plan time, or loop the media."""


class VideoHaystackSpec(_MediaHaystack):
    """A video haystack: frames sampled at ``fps``, one frame shows the secret word."""

    kind: Literal["video"]
    fps: float = Field(default=1.0, gt=0, le=30)
    """Frames sampled per second of video (the report: 1)."""
    width: int = Field(default=1280, ge=64, le=3840)
    """Frame width of generated video (a file keeps its own size)."""
    height: int = Field(default=720, ge=64, le=2160)
    needle_frame: Literal["own", "overlay"] = "own"
    """``own``: the needle replaces the frame at its second with a frame of its own;
    ``overlay``: the needle text is drawn over that frame."""
    timestamps: bool = True
    """Send a ``[hh:mm:ss]`` text line before each frame (frames form)."""


class AudioHaystackSpec(_MediaHaystack):
    """An audio haystack: speech (synthesized, or a folder of files) with a spoken needle."""

    kind: Literal["audio"]
    sample_rate: int = Field(default=16_000, ge=8_000, le=48_000)
    """Every clip is resampled to this rate, mono."""
    voice: str = "en-us"
    """espeak-ng voice of synthesized haystack speech."""
    needle_voice: str = "en+f3"
    """espeak-ng voice of the needle (differs from the haystack's by default)."""
    needle_clip: str | None = None
    """A user's recording of the needle instead of synthesized speech."""
